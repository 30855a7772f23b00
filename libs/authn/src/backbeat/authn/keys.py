"""Where verifiers find public keys: a JWKS fetched over HTTP and cached, or a fixed set.

The cache refetches when it meets a ``kid`` it does not know (a key the issuer has just
rotated in), but at most once per ``min_refetch_interval_s``, so a flood of tokens with
made-up ``kid`` values cannot turn every request into a call to auth.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from backbeat.authn.claims import SUPPORTED_ALGORITHMS
from backbeat.authn.errors import KeySetUnavailable

log = logging.getLogger(__name__)

JwkDict = Mapping[str, Any]


class KeySource(Protocol):
    """Finds the public key a token's ``kid`` names, or ``None`` when there is none."""

    async def get(self, kid: str) -> PyJWK | None: ...


def parse_key_set(jwks: Mapping[str, Any]) -> dict[str, PyJWK]:
    """The signature keys of a JWKS document by ``kid``; entries that are not usable
    signature keys are skipped (and logged by ``kid``) rather than failing the whole set."""
    keys: dict[str, PyJWK] = {}
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS document has a 'keys' list")
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(dict(entry))
        except PyJWKError as exc:
            # The error text quotes the JWK; only its kind is logged.
            log.warning("skipping unusable key", extra={"kid": kid, "error": type(exc).__name__})
            continue
        # Symmetric ("oct") keys never belong in a public key set: using one would let its
        # holder forge tokens.
        if key.algorithm_name in SUPPORTED_ALGORITHMS:
            keys[kid] = key
    return keys


class StaticKeySource:
    """A fixed key set: tests, benchmarks, and a service that holds its keys in memory."""

    def __init__(self, keys: Mapping[str, PyJWK]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> StaticKeySource:
        return cls(parse_key_set(jwks))

    async def get(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)


class JwksCache:
    """The issuer's JWKS, fetched with httpx and kept for ``max_age_s``.

    A stale set is refetched on the next lookup; if that fetch fails the old keys are kept
    (auth being briefly down must not log everyone out) until ``max_stale_s`` has passed.
    """

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        max_age_s: float = 300.0,
        max_stale_s: float = 3600.0,
        min_refetch_interval_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._owns_http = http is None
        self.max_age_s = max_age_s
        self.max_stale_s = max_stale_s
        self.min_refetch_interval_s = min_refetch_interval_s
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._last_attempt_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    @property
    def kids(self) -> Iterable[str]:
        return self._keys.keys()

    async def get(self, kid: str) -> PyJWK | None:
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at > self.max_age_s:
            await self._refresh(reason="stale")
        key = self._keys.get(kid)
        if key is None and self._may_refetch(self._clock()):
            await self._refresh(reason="unknown kid")
            key = self._keys.get(kid)
        return key

    def _may_refetch(self, now: float) -> bool:
        return self._last_attempt_at is None or (
            now - self._last_attempt_at >= self.min_refetch_interval_s
        )

    async def _refresh(self, *, reason: str) -> None:
        attempt_started = self._clock()
        async with self._lock:
            # Another task fetched while this one waited for the lock: use its result.
            if self._last_attempt_at is not None and self._last_attempt_at >= attempt_started:
                return
            if reason == "unknown kid" and not self._may_refetch(attempt_started):
                return
            self._last_attempt_at = self._clock()
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                self._on_fetch_failure(exc)
                return
            self._keys = keys
            self._fetched_at = self._clock()
            log.info("key set fetched", extra={"reason": reason, "kids": sorted(keys)})

    async def _fetch(self) -> dict[str, PyJWK]:
        self.fetch_count += 1
        response = await self._http.get(self.url, headers={"accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS document is not a JSON object")
        return parse_key_set(document)

    def _on_fetch_failure(self, exc: Exception) -> None:
        age = None if self._fetched_at is None else self._clock() - self._fetched_at
        if age is None or age > self.max_stale_s:
            self._keys = {}
            raise KeySetUnavailable(f"the key set at {self.url} could not be fetched") from exc
        log.warning(
            "key set refetch failed; keeping the cached keys",
            extra={"error": type(exc).__name__, "age_s": round(age, 1)},
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
