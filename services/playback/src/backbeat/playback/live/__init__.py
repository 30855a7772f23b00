"""The live stream: in-process fan-out of playback events to each user's open streams."""
