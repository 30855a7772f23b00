"""The end-to-end flow of tests/e2e, as a client sees it, through the gateway of the stack
`docker compose` runs (tests/compose/conftest.py): sign up, connect Spotify through the fake,
now playing, the live stream, pause reaching the fake, the play in the history. The test is
the very one tests/e2e runs against processes; only its ``whole_stack`` differs."""

from __future__ import annotations

import pytest

from tests.e2e.test_stack_end_to_end import (
    test_a_listener_sees_what_they_play_live_pauses_it_and_finds_it_in_history,
)

# The first test also waits for the images to build and the stack to become healthy.
pytestmark = pytest.mark.timeout(900)

__all__ = ["test_a_listener_sees_what_they_play_live_pauses_it_and_finds_it_in_history"]
