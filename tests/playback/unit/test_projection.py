"""Folding a user's events: each at most once, gaps reported, now playing kept."""

from __future__ import annotations

from datetime import timedelta

from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent, project_user
from backbeat.playback.domain.sequence import SequenceVerdict, check_sequence
from tests.playback.scenarios import Listener, track

RULE = PlayRule()


def test_sequence_verdicts() -> None:
    assert check_sequence(0, 1).verdict is SequenceVerdict.NEXT
    assert check_sequence(4, 5).verdict is SequenceVerdict.NEXT
    assert check_sequence(5, 5).verdict is SequenceVerdict.ALREADY_APPLIED
    assert check_sequence(5, 2).verdict is SequenceVerdict.ALREADY_APPLIED
    gap = check_sequence(5, 9)
    assert gap.verdict is SequenceVerdict.GAP and gap.missing == 3


def test_a_batch_delivered_twice_in_a_row_yields_each_play_once() -> None:
    listener = Listener("u").listen_through(track(1)).listen_through(track(2))
    result = project_user(UserPlayback("u"), listener.events + listener.events, RULE)
    assert [p.track.id for p in result.plays] == ["track-1", "track-2"]
    assert result.skipped == len(listener.events)


def test_events_already_applied_by_id_are_skipped() -> None:
    listener = Listener("u").listen_through(track(1))
    first = project_user(UserPlayback("u"), listener.events, RULE)
    again = project_user(first.state, listener.events, RULE, {e.event_id for e in listener.events})
    assert again.plays == [] and again.applied == [] and again.skipped == len(listener.events)


def test_a_replay_under_new_ids_is_skipped_by_sequence() -> None:
    listener = Listener("u").listen_through(track(1))
    first = project_user(UserPlayback("u"), listener.events, RULE)
    renamed = [IncomingEvent(f"new-{e.event_id}", e.data) for e in listener.events]
    again = project_user(first.state, renamed, RULE)
    assert again.plays == [] and again.skipped == len(renamed)


def test_a_sequence_gap_is_reported_and_the_later_events_still_apply() -> None:
    listener = Listener("u").listen_through(track(1)).listen_through(track(2))
    events = listener.events[:1] + listener.events[3:]  # lose the end of track 1 and start of 2
    result = project_user(UserPlayback("u"), events, RULE)
    assert [(g.expected, g.received, g.missing) for g in result.gaps] == [(2, 4, 2)]
    assert result.state.last_sequence == listener.sequence


def test_now_playing_follows_the_player() -> None:
    listener = Listener("u").start(track(3)).wait(30).pause(30_000)
    state = project_user(UserPlayback("u"), listener.events, RULE).state
    assert state.track is not None and state.track.id == "track-3"
    assert not state.is_playing and state.progress_ms == 30_000
    listener.wait(5).resume(30_000)
    state = project_user(state, listener.events[-1:], RULE).state
    assert state.is_playing
    assert state.progress_at(listener.now + timedelta(seconds=10)) == 40_000
    listener.stop()
    state = project_user(state, listener.events[-1:], RULE).state
    assert state.nothing_playing and not state.is_playing
