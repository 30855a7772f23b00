"""Player commands for a user: play, pause, next, previous, through Spotify's Web API with
the user's access token from the tokens service.

Spotify's refusals travel up as the Spotify client's typed errors (``NoActiveDevice``,
``PremiumRequired``, ``RateLimited``, ...) and the token source's (``NotConnected``,
``NeedsReauth``, ``TokensTryLater``); the API turns each into a problem response. Tokens are
asked for at each command, never kept here: a disconnect takes effect at once, and each
hand-out is audited by tokens.
"""

from __future__ import annotations

from enum import StrEnum

from backbeat.authn.spotify_access import SpotifyAccessTokens
from backbeat.spotify.client import SpotifyClient
from backbeat.spotify.errors import AccessTokenRejected


class PlayerCommand(StrEnum):
    PLAY = "play"
    PAUSE = "pause"
    NEXT = "next"
    PREVIOUS = "previous"


class PlayerControl:
    def __init__(self, tokens: SpotifyAccessTokens, spotify: SpotifyClient) -> None:
        self.tokens = tokens
        self.spotify = spotify

    async def send(self, user_id: str, command: PlayerCommand) -> None:
        """Have Spotify carry out ``command`` on the user's active device."""
        token = await self.tokens.access_token(user_id)
        try:
            await self._call(command, token)
        except AccessTokenRejected:
            # Spotify can refuse a token that tokens still held for valid (it expired a moment
            # ago, or the user revoked it): tokens refreshes or reports the reason. Once only;
            # a second refusal reaches the caller.
            await self._call(command, await self.tokens.access_token(user_id))

    async def _call(self, command: PlayerCommand, token: str) -> None:
        match command:
            case PlayerCommand.PLAY:
                await self.spotify.play(token)
            case PlayerCommand.PAUSE:
                await self.spotify.pause(token)
            case PlayerCommand.NEXT:
                await self.spotify.next(token)
            case PlayerCommand.PREVIOUS:
                await self.spotify.previous(token)
