"""Verifies Backbeat access tokens locally, for every service that accepts them.

Build a :class:`TokenVerifier` over a :class:`JwksCache` (the auth service's JWKS, fetched over
HTTP and cached), install it on the FastAPI app with :func:`install_verifier`, and protect
routes with the :func:`current_user` and :func:`require_service` dependencies. A service that
calls another one gets its own token with :class:`ServiceTokenClient`.
"""

from backbeat.authn.claims import (
    ACCESS_TOKEN_HEADER_TYPE,
    SERVICE_SUBJECT_PREFIX,
    ServicePrincipal,
    TokenType,
    UserPrincipal,
)
from backbeat.authn.dependencies import (
    AUTH_PROBLEMS,
    current_principal,
    current_user,
    install_verifier,
    require_service,
)
from backbeat.authn.errors import (
    KeySetUnavailable,
    RejectReason,
    RevocationsUnavailable,
    TokenRejected,
)
from backbeat.authn.keys import JwksCache, KeySource, StaticKeySource
from backbeat.authn.revocation_feed import RevocationFeed
from backbeat.authn.revocations import Revocation, RevocationList
from backbeat.authn.service_tokens import (
    PermanentServiceTokenError,
    ServiceTokenAuth,
    ServiceTokenClient,
    ServiceTokenError,
    TransientServiceTokenError,
)
from backbeat.authn.verifier import TokenVerifier

__all__ = [
    "ACCESS_TOKEN_HEADER_TYPE",
    "AUTH_PROBLEMS",
    "SERVICE_SUBJECT_PREFIX",
    "JwksCache",
    "KeySetUnavailable",
    "KeySource",
    "PermanentServiceTokenError",
    "RejectReason",
    "Revocation",
    "RevocationFeed",
    "RevocationList",
    "RevocationsUnavailable",
    "ServicePrincipal",
    "ServiceTokenAuth",
    "ServiceTokenClient",
    "ServiceTokenError",
    "StaticKeySource",
    "TokenRejected",
    "TokenType",
    "TokenVerifier",
    "TransientServiceTokenError",
    "UserPrincipal",
    "current_principal",
    "current_user",
    "install_verifier",
    "require_service",
]
