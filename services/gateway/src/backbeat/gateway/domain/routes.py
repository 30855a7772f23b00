"""Which service answers a public path, and whether the caller must bring a user token.

Paths are forwarded unchanged: every service serves its public routes under its own prefix
(``/api/auth``, ``/api/spotify``, ``/api/playback``). Anything outside those prefixes, and
above all the services' ``/internal/*`` endpoints, is never forwarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Upstream(StrEnum):
    """The services behind the gateway."""

    AUTH = "auth"
    TOKENS = "tokens"
    PLAYBACK = "playback"


@dataclass(frozen=True, slots=True)
class PublicOperation:
    """One row of the public API table in DESIGN.md."""

    method: str
    path: str
    upstream: Upstream
    needs_user: bool


# The public HTTP API of DESIGN.md, row by row. The merged OpenAPI document has exactly these
# operations; the gateway forwards other paths under the same prefixes too ("services may offer
# more"), always behind a user token unless they are listed here as open.
PUBLIC_OPERATIONS: tuple[PublicOperation, ...] = (
    PublicOperation("POST", "/api/auth/signup", Upstream.AUTH, needs_user=False),
    PublicOperation("POST", "/api/auth/login", Upstream.AUTH, needs_user=False),
    PublicOperation("POST", "/api/auth/refresh", Upstream.AUTH, needs_user=False),
    PublicOperation("POST", "/api/auth/logout", Upstream.AUTH, needs_user=True),
    PublicOperation("GET", "/api/auth/me", Upstream.AUTH, needs_user=True),
    PublicOperation("DELETE", "/api/auth/me", Upstream.AUTH, needs_user=True),
    PublicOperation("POST", "/api/spotify/connect", Upstream.TOKENS, needs_user=True),
    # Spotify sends the browser here: it carries no token, the single-use state proves it.
    PublicOperation("GET", "/api/spotify/callback", Upstream.TOKENS, needs_user=False),
    PublicOperation("GET", "/api/spotify/connection", Upstream.TOKENS, needs_user=True),
    PublicOperation("DELETE", "/api/spotify/connection", Upstream.TOKENS, needs_user=True),
    PublicOperation("GET", "/api/playback/now", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("GET", "/api/playback/history", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("GET", "/api/playback/stats", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("GET", "/api/playback/stream", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("POST", "/api/playback/player/play", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("POST", "/api/playback/player/pause", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("POST", "/api/playback/player/next", Upstream.PLAYBACK, needs_user=True),
    PublicOperation("POST", "/api/playback/player/previous", Upstream.PLAYBACK, needs_user=True),
)

PREFIXES: dict[str, Upstream] = {
    "/api/auth/": Upstream.AUTH,
    "/api/spotify/": Upstream.TOKENS,
    "/api/playback/": Upstream.PLAYBACK,
}

# Long-lived responses: no idle read timeout applies to them beyond the stream's own.
STREAM_PATHS = frozenset({"/api/playback/stream"})

# Requests that make auth hash or verify a password (argon2id: tens of milliseconds of CPU and
# 19 MiB each). One client sending them at the ordinary address rate would keep auth's cores
# busy and slow every other user's sign-in, so they have a budget of their own.
PASSWORD_OPERATIONS = frozenset(
    {
        ("POST", "/api/auth/signup"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/password"),
    }
)

_OPEN = frozenset((op.method, op.path) for op in PUBLIC_OPERATIONS if not op.needs_user)

# Segments a service might normalise into another path ("..", encoded slashes or dots,
# backslashes, empty segments): such paths are refused rather than forwarded.
_AMBIGUOUS = re.compile(r"(^|/)\.\.?(/|$)|%2e|%2f|%5c|\\|//", re.IGNORECASE)


class Refusal(StrEnum):
    """Why a path is not forwarded; each is answered 404 ``not_found``."""

    NOT_ROUTED = "not_routed"
    AMBIGUOUS_PATH = "ambiguous_path"


@dataclass(frozen=True, slots=True)
class Forward:
    """Forward the request, unchanged in path and query, to ``upstream``."""

    upstream: Upstream
    needs_user: bool
    is_stream: bool
    checks_password: bool = False


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: Refusal


RouteDecision = Forward | Refuse


def decide(method: str, raw_path: str) -> RouteDecision:
    """Where ``method raw_path`` goes; ``raw_path`` is the path as sent, still percent-encoded."""
    if _AMBIGUOUS.search(raw_path):
        return Refuse(Refusal.AMBIGUOUS_PATH)
    for prefix, upstream in PREFIXES.items():
        if raw_path.startswith(prefix) and len(raw_path) > len(prefix):
            method = method.upper()
            return Forward(
                upstream=upstream,
                needs_user=(method, raw_path) not in _OPEN,
                is_stream=raw_path in STREAM_PATHS,
                checks_password=(method, raw_path) in PASSWORD_OPERATIONS,
            )
    return Refuse(Refusal.NOT_ROUTED)
