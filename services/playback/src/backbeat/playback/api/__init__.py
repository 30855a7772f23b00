"""HTTP side of the playback service: the user API under ``/api/playback`` (``routes``), its
bodies (``models``), the live stream (``stream``) and player-command refusals (``refusals``)."""
