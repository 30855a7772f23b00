"""The verifier refuses every hostile token with a stable reason and accepts genuine ones."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import jwt
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


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed_as_is(claims: dict[str, object]) -> str:
    """Claims signed with the genuine key exactly as given (PyJWT refuses to encode some)."""
    header = {"alg": "EdDSA", "kid": FORGE.kid, "typ": "at+jwt"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = FORGE.private_key.sign(signing_input.encode())
    return f"{signing_input}.{_b64(signature)}"


async def test_a_genuine_es256_token_is_accepted_and_a_forged_one_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    keys = StaticKeySource.from_jwks({"keys": [{**jwk, "kid": "ec-1", "alg": "ES256"}]})
    check = verifier(keys, algorithms=("EdDSA", "ES256"))
    claims = FORGE.user_claims()
    headers = {"kid": "ec-1", "typ": "at+jwt"}
    genuine = jwt.encode(claims, ec_key, algorithm="ES256", headers=headers)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(claims, stranger, algorithm="ES256", headers=headers)

    principal = await check.verify(genuine)

    assert isinstance(principal, UserPrincipal)
    assert str(principal.user_id) == claims["sub"]
    with pytest.raises(TokenRejected) as refused:
        await check.verify(forged)
    assert refused.value.reason is RejectReason.INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        # A critical extension this verifier does not understand (RFC 7515 4.1.11).
        ({"crit": ["exp"], "exp": 1}, RejectReason.MALFORMED_TOKEN),
        # An unencoded payload (RFC 7797): not what auth signs.
        ({"b64": False, "crit": ["b64"]}, RejectReason.MALFORMED_TOKEN),
    ],
    ids=["unknown_critical_extension", "unencoded_payload"],
)
async def test_jws_extensions_are_refused(headers: dict[str, object], reason: RejectReason) -> None:
    token = FORGE.sign(FORGE.user_claims(), headers=headers)

    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(token)

    assert refused.value.reason is reason


async def test_a_signature_spelled_another_way_is_refused() -> None:
    # Ed25519 signatures are 64 bytes: the last base64url character carries 4 unused bits.
    # Setting one decodes to the same signature, so the string would verify without the
    # canonical-spelling check; a second accepted spelling of one token is refused.
    token = FORGE.user_token()
    header, payload, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    assert respelled != signature
    check = verifier()
    await check.verify(token)

    with pytest.raises(TokenRejected) as refused:
        await check.verify(f"{header}.{payload}.{respelled}")

    assert refused.value.reason is RejectReason.MALFORMED_TOKEN


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"nbf": "0"}, RejectReason.MALFORMED_TOKEN),
        ({"nbf": True}, RejectReason.MALFORMED_TOKEN),
        ({"exp": "9999999999"}, RejectReason.MALFORMED_TOKEN),
        ({"iat": [1]}, RejectReason.INVALID_CLAIMS),
        ({"iat": int(time.time()) + 600}, RejectReason.TOKEN_NOT_YET_VALID),
        ({"aud": []}, RejectReason.INVALID_CLAIMS),
        ({"aud": ["backbeat", 7]}, RejectReason.INVALID_AUDIENCE),
        ({"aud": {"backbeat": True}}, RejectReason.INVALID_AUDIENCE),
        ({"iss": ["http://auth.test"]}, RejectReason.INVALID_ISSUER),
        ({"jti": 42}, RejectReason.INVALID_CLAIMS),
        ({"sub": None}, RejectReason.INVALID_CLAIMS),
        ({"typ": None}, RejectReason.INVALID_CLAIMS),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else str(value),
)
async def test_signed_tokens_with_malformed_claims_are_refused(
    overrides: dict[str, object], reason: RejectReason
) -> None:
    token = signed_as_is({**FORGE.user_claims(), **overrides})

    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(token)

    assert refused.value.reason is reason


async def test_a_token_for_several_audiences_including_this_one_is_accepted() -> None:
    token = FORGE.user_token(aud=["somebody-else", "backbeat"])

    assert isinstance(await verifier().verify(token), UserPrincipal)


async def test_a_forged_token_borrowing_a_genuine_header_is_still_refused() -> None:
    check = verifier(verified_cache_size=0)
    genuine = FORGE.user_token()
    await check.verify(genuine)
    header = genuine.split(".")[0]
    forged = FORGE.sign(FORGE.user_claims(), key=FORGE.stranger_key).split(".")

    with pytest.raises(TokenRejected) as refused:
        await check.verify(f"{header}.{forged[1]}.{forged[2]}")

    assert refused.value.reason is RejectReason.INVALID_SIGNATURE
    assert isinstance(await check.verify(genuine), UserPrincipal)


async def test_hostile_headers_are_not_remembered() -> None:
    check = verifier()
    for n in range(200):
        claims = FORGE.user_claims()
        with pytest.raises(TokenRejected):
            await check.verify(FORGE.sign(claims, key=FORGE.stranger_key, headers={"n": n}))

    assert len(check._genuine_headers) == 0


async def test_a_genuine_token_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(FORGE.user_token() + "\n")

    assert refused.value.reason is RejectReason.MALFORMED_TOKEN
