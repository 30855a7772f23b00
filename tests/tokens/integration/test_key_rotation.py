"""Online key rotation of the vault: rows stay readable throughout and all end on the new key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from backbeat.runtime.database import Database
from backbeat.spotify.models import TokenGrant
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.connections import store_connection
from backbeat.tokens.service.handout import AccessTokenDispenser
from backbeat.tokens.service.rotation import rotate
from backbeat.tokens.store.tables import credentials

pytestmark = pytest.mark.integration


class NoRefreshExpected:
    async def refresh(self, refresh_token: str) -> TokenGrant:
        raise AssertionError("warm tokens need no refresh")


async def test_rows_under_key_1_are_readable_after_rotating_and_all_end_under_key_2(
    tokens_db: Database,
) -> None:
    key_1 = KeyRing.parse(f"k1:{KeyRing.generate_key()}")
    for n in range(450):
        await store_connection(
            tokens_db,
            key_1,
            user_id=f"user-{n}",
            spotify_user_id=None,
            spotify_client_id="app",
            grant=TokenGrant(
                access_token=SecretStr(f"access-{n}"),
                token_type="Bearer",
                expires_in=3600,
                refresh_token=SecretStr(f"refresh-{n}"),
            ),
            now=datetime.now(UTC),
        )
    both = KeyRing(keys={**key_1.keys, "k2": base64.b64decode(KeyRing.generate_key())}, active="k2")
    handout = AccessTokenDispenser(tokens_db, both, NoRefreshExpected())
    # Readable under the new ring before the rotation has touched anything.
    assert (await handout.access_token("user-7", actor="t")).token == "access-7"

    progress = await rotate(tokens_db, both, batch_size=100)
    assert (progress.resealed, progress.remaining) == (450, 0)
    async with tokens_db.session() as session:
        key_ids = set((await session.execute(select(credentials.c.key_id))).scalars())
        dump = await session.execute(
            text("SELECT access_token, refresh_token FROM spotify_credentials")
        )
        raw = b"".join(bytes(a) + bytes(r) for a, r in dump)
    assert key_ids == {"k2"}
    assert b"access-" not in raw and b"refresh-" not in raw  # a dump holds no plaintext token

    only_2 = KeyRing(keys={"k2": both.keys["k2"]}, active="k2")
    retired = AccessTokenDispenser(tokens_db, only_2, NoRefreshExpected())
    assert (await retired.access_token("user-449", actor="t")).token == "access-449"
