"""What the watcher credits as heard (``listened_ms`` on ``track_ended``, which playback's play
rule judges) across outages, restarts and the moments between polls: only what positions or
Spotify's own record prove, never the time the watcher happened to be away."""

from __future__ import annotations

from backbeat.events.playback import PlaybackEventData
from backbeat.events.playback import PlaybackEventKind as Kind
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.domain.timeline import WatchState, observe
from tests.watcher.unit.helpers import T0, nothing, playing, track

# Playback's rule: half the track or four minutes, whichever comes first.
LONG = track(1, duration_ms=406_000)  # needs 203 s
MID = track(2, duration_ms=286_000)  # needs 143 s
SHORT = track(3, duration_ms=200_000)  # needs 100 s
NEXT = track(4, duration_ms=180_000)


def live(
    snapshots: list[PlaybackSnapshot], state: WatchState | None = None
) -> tuple[WatchState, list[PlaybackEventData]]:
    """Observations a poll apart (the user watched closely)."""
    state = state or WatchState("u1")
    events: list[PlaybackEventData] = []
    for snapshot in snapshots:
        observation = observe(state, snapshot)
        state, events = observation.state, events + observation.events
    return state, events


def every_5_s(
    item: object, from_s: int, to_s: int, start_progress_s: int = 0, **kw: object
) -> list[PlaybackSnapshot]:
    return [
        playing(t, item, start_progress_s + t - from_s, **kw)  # type: ignore[arg-type]
        for t in range(from_s, to_s + 1, 5)
    ]


def after_gap(
    state: WatchState, current: PlaybackSnapshot, listed: list[RecentPlay]
) -> tuple[WatchState, list[PlaybackEventData]]:
    """The first observation after a gap, with what recently-played listed since the last."""
    observation = observe(state, current, listed)
    return observation.state, observation.events


def ended(events: list[PlaybackEventData], item: object) -> PlaybackEventData:
    (end,) = [
        e for e in events if e.kind is Kind.TRACK_ENDED and e.track is not None and e.track == item
    ]
    return end


def heard_s(event: PlaybackEventData) -> float:
    assert event.listened_ms is not None
    return event.listened_ms / 1000


def at_s(event: PlaybackEventData) -> float:
    return (event.observed_at.timestamp() * 1000 - T0) / 1000


def test_a_seek_back_while_the_watcher_was_down_credits_the_whole_time_it_played() -> None:
    # Heard live to 100 s; down for 85 s, during which the user seeks back to 30 s at 150 s;
    # after the restart the track plays to its end. The listener heard 150 + 376 = 526 s.
    state, _ = live(every_5_s(LONG, 0, 100))
    state, events = after_gap(state, playing(185, LONG, 65, changed_at_s=150), listed=[])
    assert [e.kind for e in events] == [Kind.SEEKED]
    later = every_5_s(LONG, 190, 525, start_progress_s=70, changed_at_s=150)
    state, events = live([*later, playing(526.5, NEXT, 0.5)], state)
    assert heard_s(ended(events, LONG)) == 526


def test_a_skip_during_a_5xx_gap_credits_only_up_to_the_end_spotify_dates() -> None:
    # Seen to 70 s; polls fail from then; the user skips at 121 s (the rule needs 143 s) and
    # the next poll succeeds at 122 s.
    state, _ = live(every_5_s(MID, 0, 70))
    state, events = after_gap(state, playing(122, NEXT, 1), listed=[RecentPlay(MID, T0 + 121_000)])
    end = ended(events, MID)
    assert heard_s(end) == 121
    assert heard_s(end) < 143  # not a play
    (start,) = [e for e in events if e.kind is Kind.TRACK_STARTED]
    assert start.track == NEXT
    assert at_s(start) == 121  # dated when it began, not when it was noticed
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)


def test_a_skip_during_a_gap_after_the_rule_was_reached_is_credited() -> None:
    # Seen to 100 s; the gap hides listening to 160 s (the rule needs 143 s) and a skip.
    state, _ = live(every_5_s(MID, 0, 100))
    state, events = after_gap(state, playing(170, NEXT, 10), listed=[RecentPlay(MID, T0 + 160_000)])
    assert heard_s(ended(events, MID)) == 160


def test_the_seconds_between_the_last_poll_that_saw_it_playing_and_a_stop_are_not_heard() -> None:
    # Playing from 2 s, 95 s heard at the last poll (97 s); the listener stops at 97.5 s and
    # the next poll, at 102 s, sees nothing: 95 s are proven, not the 100 s a naive count
    # gives (which would make it a play).
    _state, events = live([*every_5_s(SHORT, 2, 97), nothing(102)])
    assert heard_s(ended(events, SHORT)) == 95
    assert heard_s(ended(events, SHORT)) < 100  # not a play


def test_a_skip_between_two_polls_credits_nothing_after_the_last_poll() -> None:
    _, events = live([*every_5_s(SHORT, 0, 95), playing(100, NEXT, 3)])
    assert heard_s(ended(events, SHORT)) == 95


def test_a_track_that_ran_out_between_two_polls_is_credited_to_its_end() -> None:
    _, events = live([*every_5_s(SHORT, 0, 195), playing(200.5, NEXT, 0.5)])
    assert heard_s(ended(events, SHORT)) == 200


def test_a_track_change_while_the_watcher_was_down_credits_the_end_and_dates_the_next() -> None:
    state, _ = live(every_5_s(SHORT, 0, 100))
    state, events = after_gap(
        state, playing(260, NEXT, 60), listed=[RecentPlay(SHORT, T0 + 200_000)]
    )
    assert heard_s(ended(events, SHORT)) == 200
    (start,) = [e for e in events if e.kind is Kind.TRACK_STARTED]
    assert (start.track, at_s(start), start.backfilled) == (NEXT, 200, False)
    assert state.play is not None and state.play.listened_ms == 60_000


def test_a_pause_and_resume_inside_a_gap_credits_only_what_the_position_moved() -> None:
    # Playing at 50 s; paused at 60 s, resumed at 90 s (unseen); seen at 120 s at 90 s in.
    state, _ = live(every_5_s(SHORT, 0, 50))
    state, _ = after_gap(state, playing(120, SHORT, 90, changed_at_s=90), listed=[])
    assert state.play is not None and state.play.listened_ms == 90_000


def test_a_gap_where_nothing_changed_credits_the_time_it_played() -> None:
    state, _ = live(every_5_s(SHORT, 0, 50))
    state, _ = after_gap(state, playing(110, SHORT, 110, changed_at_s=0), listed=[])
    assert state.play is not None and state.play.listened_ms == 110_000


def test_a_gap_paused_throughout_credits_nothing() -> None:
    state, _ = live([*every_5_s(SHORT, 0, 50), playing(53, SHORT, 53, is_playing=False)])
    state, _ = after_gap(
        state, playing(200, SHORT, 53, is_playing=False, changed_at_s=53), listed=[]
    )
    assert state.play is not None and state.play.listened_ms == 53_000


def test_a_play_that_left_unlisted_during_a_gap_is_credited_nothing_after_the_last_poll() -> None:
    # Seen at 20 s; skipped at 25 s (25 s heard: Spotify does not list it); the next track
    # is listed, a third plays now.
    state, _ = live(every_5_s(SHORT, 0, 20))
    state, events = after_gap(
        state, playing(400, LONG, 10), listed=[RecentPlay(NEXT, T0 + 205_000)]
    )
    assert heard_s(ended(events, SHORT)) == 20
    assert heard_s(ended(events, NEXT)) == 180  # Spotify's record: listed, ended at 205 s


def test_a_seek_back_just_after_the_last_poll_is_told_from_a_pause_by_spotify_timestamps() -> None:
    # Last seen at 100 s; seeked back to 92 s half a second later; seen again 20 s on.
    state, _ = live(every_5_s(LONG, 0, 100))
    state, events = after_gap(state, playing(120.5, LONG, 112, changed_at_s=100.5), listed=[])
    assert [e.kind for e in events] == [Kind.SEEKED]
    assert state.play is not None and state.play.listened_ms == 120_500
