"""The cookie that binds a connect flow to the browser that started it.

The connect call sets it, the callback reads and clears it; what it holds and why is told by
``service.connect.browser_binding``. SameSite=Lax, since the callback is a top-level GET
coming from Spotify's page (another site): Strict would keep it from that very request.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request, Response

from backbeat.tokens.settings import TokensSettings

_NAME = "backbeat_connect_"


@dataclass(frozen=True)
class ConnectCookie:
    # Secure with the ``__Host-`` prefix (no Domain, Path=/, https only: a sibling subdomain
    # cannot plant one), or neither, over plain http where browsers refuse both.
    secure: bool
    # Where browsers send it: the callback's path; ``__Host-`` requires "/".
    path: str
    max_age_s: int

    @classmethod
    def for_settings(cls, settings: TokensSettings) -> ConnectCookie:
        secure = settings.connect_cookie_is_secure
        callback_path = urlsplit(settings.spotify_redirect_uri).path or "/"
        return cls(
            secure=secure,
            path="/" if secure else callback_path,
            max_age_s=settings.connect_state_ttl_s,
        )

    def name(self, binding: str) -> str:
        # One cookie per flow, named after its binding: a connect started in a second tab
        # leaves the first tab's cookie alone, and the callback knows which one to read.
        return f"{'__Host-' if self.secure else ''}{_NAME}{binding[:16]}"

    def give(self, response: Response, binding: str) -> None:
        response.set_cookie(
            self.name(binding),
            binding,
            max_age=self.max_age_s,
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def read(self, request: Request, binding: str) -> str | None:
        return request.cookies.get(self.name(binding))

    def clear(self, response: Response, binding: str) -> None:
        response.delete_cookie(
            self.name(binding), path=self.path, secure=self.secure, httponly=True, samesite="lax"
        )
