"""The verifier refuses every hostile token with a stable reason and accepts genuine ones."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm

from backbeat.authn import (
    RejectReason,
    ServicePrincipal,
    StaticKeySource,
    TokenRejected,
    TokenVerifier,
    UserPrincipal,
)
from backbeat.authn.testing import TokenForge, negative_matrix

ISSUER = "http://auth.test"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")


class CountingKeySource:
    """Records every key lookup, to show which tokens never reached the crypto."""

    def __init__(self, inner: StaticKeySource) -> None:
        self.inner = inner
        self.lookups = 0

    async def get(self, kid: str) -> PyJWK | None:
        self.lookups += 1
        return await self.inner.get(kid)


def verifier(keys: object = None, **options: object) -> TokenVerifier:
    settings: dict[str, object] = {
        "issuer": ISSUER,
        "user_audience": "backbeat",
        "service_audience": "tokens",
    }
    settings.update(options)
    return TokenVerifier(keys or FORGE.key_source(), **settings)  # type: ignore[arg-type]


async def test_a_genuine_user_token_gives_the_user_and_session() -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = FORGE.user_token(sub=str(user_id), sid=str(session_id))

    principal = await verifier().verify(token)

    assert isinstance(principal, UserPrincipal)
    assert (principal.user_id, principal.session_id) == (user_id, session_id)


async def test_a_genuine_service_token_gives_the_client_and_scopes() -> None:
    token = FORGE.service_token("watcher", "tokens:read tokens:audit")

    principal = await verifier().verify(token)

    assert isinstance(principal, ServicePrincipal)
    assert principal.client_id == "watcher"
    assert principal.scopes == {"tokens:read", "tokens:audit"}


@pytest.mark.parametrize("case", negative_matrix(FORGE), ids=lambda c: c.name)
async def test_hostile_tokens_are_refused_with_a_stable_reason(case: object) -> None:
    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(case.token)  # type: ignore[attr-defined]
    assert refused.value.reason is case.reason  # type: ignore[attr-defined]


async def test_an_oversized_token_is_refused_before_any_key_lookup() -> None:
    keys = CountingKeySource(FORGE.key_source())
    huge = FORGE.user_token(padding="x" * 10_000)

    with pytest.raises(TokenRejected) as refused:
        await verifier(keys).verify(huge)

    assert refused.value.reason is RejectReason.TOKEN_TOO_LARGE
    assert keys.lookups == 0


async def test_a_service_token_is_refused_where_only_user_tokens_are_accepted() -> None:
    user_only = verifier(service_audience=None)
    token = FORGE.service_token(aud="backbeat")

    with pytest.raises(TokenRejected) as refused:
        await user_only.verify(token)

    assert refused.value.reason is RejectReason.WRONG_TOKEN_TYPE


async def test_a_user_token_is_refused_where_only_service_tokens_are_accepted() -> None:
    service_only = verifier(user_audience=None)
    token = FORGE.user_token(aud="tokens")

    with pytest.raises(TokenRejected) as refused:
        await service_only.verify(token)

    assert refused.value.reason is RejectReason.WRONG_TOKEN_TYPE


async def test_a_service_subject_that_does_not_match_its_client_is_refused() -> None:
    token = FORGE.service_token("watcher", sub="svc:playback")

    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(token)

    assert refused.value.reason is RejectReason.INVALID_CLAIMS


async def test_a_user_token_with_a_service_subject_is_refused() -> None:
    token = FORGE.user_token(sub="svc:watcher")

    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(token)

    assert refused.value.reason is RejectReason.INVALID_CLAIMS


async def test_a_token_cannot_choose_another_algorithm_than_its_key_has() -> None:
    # An ES256 key published under the kid the EdDSA token names.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    keys = StaticKeySource.from_jwks({"keys": [{**jwk, "kid": FORGE.kid, "alg": "ES256"}]})

    with pytest.raises(TokenRejected) as refused:
        await verifier(keys, algorithms=("EdDSA", "ES256")).verify(FORGE.user_token())

    assert refused.value.reason is RejectReason.UNSUPPORTED_ALGORITHM


def test_a_verifier_cannot_be_configured_with_a_symmetric_algorithm() -> None:
    with pytest.raises(ValueError, match="algorithms"):
        verifier(algorithms=("HS256",))


def test_symmetric_keys_in_a_key_set_are_ignored() -> None:
    keys = StaticKeySource.from_jwks(
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, FORGE.public_jwk()]}
    )
    assert asyncio.run(keys.get("hmac")) is None
    assert asyncio.run(keys.get(FORGE.kid)) is not None


async def test_a_token_accepted_before_is_refused_once_it_expires() -> None:
    keys = CountingKeySource(FORGE.key_source())
    check = verifier(keys, leeway_s=0)
    token = FORGE.user_token(exp=int(time.time()) + 1)
    first = await check.verify(token)
    assert isinstance(first, UserPrincipal)
    assert await check.verify(token) == first
    await asyncio.sleep(1.6)
    with pytest.raises(TokenRejected) as refused:
        await check.verify(token)
    assert refused.value.reason is RejectReason.TOKEN_EXPIRED
