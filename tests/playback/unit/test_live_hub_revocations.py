"""The live hub ends the streams of a revoked session (or of every session of a deleted user)
as the revocation arrives, and a stream opened for a session already revoked at once."""

from __future__ import annotations

import time
import uuid

import pytest

from backbeat.authn import Revocation, RevocationList
from backbeat.playback.live.frames import LiveEvent
from backbeat.playback.live.hub import LiveHub, StreamEnded


def event(user_id: str, sequence: int) -> LiveEvent:
    return LiveEvent(user_id, sequence, "paused", f"{user_id}:{sequence}".encode())


def revocations() -> RevocationList:
    revocations = RevocationList(retain_s=960)
    revocations.mark_current()
    return revocations


async def test_revoking_a_session_ends_its_streams_and_no_other() -> None:
    known = revocations()
    hub = LiveHub(revocations=known)
    user, ended, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    phone = hub.subscribe(str(user), None, session_id=str(ended))[0]
    laptop = hub.subscribe(str(user), None, session_id=str(kept))[0]

    known.add(Revocation(user, ended, revoked_at=time.time()))
    hub.publish(event(str(user), 1))

    with pytest.raises(StreamEnded) as stopped:
        await phone.next(1)
    assert stopped.value.reason == "session revoked"
    assert await laptop.next(1) == event(str(user), 1)


async def test_revoking_every_session_of_a_user_ends_all_their_streams() -> None:
    known = revocations()
    hub = LiveHub(revocations=known)
    user, bystander = uuid.uuid4(), uuid.uuid4()
    streams = [hub.subscribe(str(user), None, session_id=str(uuid.uuid4()))[0] for _ in range(3)]
    other = hub.subscribe(str(bystander), None, session_id=str(uuid.uuid4()))[0]

    known.add(Revocation(user, None, revoked_at=time.time()))

    for stream in streams:
        with pytest.raises(StreamEnded):
            await stream.next(1)
    hub.publish(event(str(bystander), 1))
    assert await other.next(1) == event(str(bystander), 1)


async def test_a_stream_opened_for_a_session_revoked_meanwhile_ends_at_once() -> None:
    known = revocations()
    hub = LiveHub(revocations=known)
    user, session = uuid.uuid4(), uuid.uuid4()
    # The token was verified, then the revocation arrived before the stream subscribed.
    known.add(Revocation(user, session, revoked_at=time.time()))

    stream, _ = hub.subscribe(str(user), None, session_id=str(session))

    with pytest.raises(StreamEnded):
        await stream.next(1)
