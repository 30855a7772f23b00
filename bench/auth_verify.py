"""Local access-token verification throughput on one core: backbeat.authn's full check (shape,
header, key lookup, signature, claims, principal) against the bare Ed25519 signature check of
the same crypto library (cryptography), measured in the same run, in alternating turns. Also the
rate for a token the verifier has already accepted (a caller presenting its token again),
answered from its cache.

    python bench/auth_verify.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import time
from collections.abc import Callable

import jwt

from backbeat.authn import TokenVerifier
from backbeat.authn.testing import TokenForge


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def rates(
    runs: dict[str, Callable[[int], None]], seconds: float, batch: int = 500
) -> dict[str, float]:
    """Operations per second of CPU of each of ``runs``, for about ``seconds`` each, measured
    in turns of ``batch`` operations over the same period. On a shared machine the process is
    preempted at random: the thread's CPU time counts only what the operations cost, and the
    turns make what remains (caches, frequency) weigh on every measurement alike instead of
    on whichever ran while the machine was busy."""
    for run_batch in runs.values():
        run_batch(batch)  # warm-up
    done = dict.fromkeys(runs, 0)
    spent = dict.fromkeys(runs, 0.0)
    deadline = time.thread_time() + seconds * len(runs)
    while time.thread_time() < deadline:
        for name, run_batch in runs.items():
            started = time.thread_time()
            run_batch(batch)
            spent[name] += time.thread_time() - started
            done[name] += batch
    return {name: done[name] / spent[name] for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    forge = TokenForge(issuer="http://127.0.0.1:8001")
    token = forge.user_token()
    # The full check every time: the cache of accepted tokens is off.
    verifier = TokenVerifier(
        forge.key_source(),
        issuer=forge.issuer,
        user_audience="backbeat",
        service_audience=None,
        verified_cache_size=0,
    )
    remembering = TokenVerifier(
        forge.key_source(), issuer=forge.issuer, user_audience="backbeat", service_audience=None
    )
    public_key = forge.private_key.public_key()
    header, payload, signature = token.split(".")
    signing_input, raw_signature = f"{header}.{payload}".encode(), _b64decode(signature)

    loop = asyncio.new_event_loop()

    def backbeat_batch(n: int) -> None:
        async def many() -> None:
            for _ in range(n):
                await verifier.verify(token)

        loop.run_until_complete(many())

    def repeat_batch(n: int) -> None:
        async def many() -> None:
            for _ in range(n):
                await remembering.verify(token)

        loop.run_until_complete(many())

    def bare_signature_batch(n: int) -> None:
        for _ in range(n):
            public_key.verify(raw_signature, signing_input)

    def pyjwt_decode_batch(n: int) -> None:
        for _ in range(n):
            jwt.decode(
                token,
                public_key,
                algorithms=["EdDSA"],
                audience="backbeat",
                issuer=forge.issuer,
            )

    measured = rates(
        {
            "backbeat": backbeat_batch,
            "repeat": repeat_batch,
            "bare": bare_signature_batch,
            "pyjwt_decode": pyjwt_decode_batch,
        },
        args.seconds,
    )
    backbeat, repeat = measured["backbeat"], measured["repeat"]
    bare, pyjwt_decode = measured["bare"], measured["pyjwt_decode"]
    loop.close()

    print(
        f"backbeat.authn {backbeat:,.0f}/s, pyjwt.decode {pyjwt_decode:,.0f}/s, "
        f"bare Ed25519 verify {bare:,.0f}/s"
    )
    print(
        json.dumps(
            {
                "bench": "auth_verify",
                "results": {
                    "backbeat_verify_per_s": round(backbeat),
                    "backbeat_repeat_token_per_s": round(repeat),
                    "pyjwt_decode_per_s": round(pyjwt_decode),
                    "token_bytes": len(token),
                    "algorithm": "EdDSA",
                    "cores": 1,
                },
                "baseline": {"bare_ed25519_verify_per_s": round(bare)},
                "ratio": {
                    "backbeat_vs_bare": round(backbeat / bare, 3),
                    "repeat_token_vs_bare": round(repeat / bare, 3),
                    "pyjwt_decode_vs_bare": round(pyjwt_decode / bare, 3),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
