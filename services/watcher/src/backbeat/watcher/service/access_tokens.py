"""Where the watcher gets users' Spotify access tokens: the port its scheduler polls with.

In a deployment it is the tokens service's hand-out (`backbeat.authn.spotify_access`, with
the watcher's own service JWT, each token cached until shortly before it expires); tests and
benches give static tokens. Refusals are typed (`backbeat.authn.spotify_access`): a user not
connected or needing re-authorisation is not polled until its connection state changes;
anything else is worth retrying later.
"""

from __future__ import annotations

from typing import Protocol


class AccessTokenSource(Protocol):
    async def access_token(self, user_id: str) -> str:
        """A token Spotify should accept for ``user_id``; raises `AccessTokenUnavailable`."""
        ...

    def invalidate(self, user_id: str) -> None:
        """Spotify refused the cached token (401): the next call asks again."""
        ...
