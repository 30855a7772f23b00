"""Run the Spotify fake on its own: `python -m backbeat.spotify_fake --port 8090`."""

from __future__ import annotations

import argparse

import uvicorn

from backbeat.spotify_fake.app import create_app
from backbeat.spotify_fake.config import FakeConfig


def parse_config(argv: list[str] | None = None) -> tuple[FakeConfig, str, int, str]:
    parser = argparse.ArgumentParser(prog="python -m backbeat.spotify_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--listeners", type=int, default=0, help="simulated users at start")
    parser.add_argument("--free-listener-share", type=float, default=0.2)
    parser.add_argument(
        "--catalogue", choices=("standard", "short"), default="standard", help="track lengths"
    )
    parser.add_argument("--clock", choices=("real", "manual"), default="real")
    parser.add_argument("--start-ms", type=int, default=None, help="manual clock start")
    parser.add_argument(
        "--rate-limit", type=int, default=600, help="Web API calls per app per window; 0 = off"
    )
    parser.add_argument("--rate-window-s", type=float, default=30.0)
    parser.add_argument("--access-token-ttl-s", type=int, default=3600)
    parser.add_argument("--rotate-refresh-tokens", action="store_true")
    parser.add_argument("--public-url", default=None, help="base URL for href fields")
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="CLIENT_ID:CLIENT_SECRET:REDIRECT_URI",
        help="register an app with known credentials at start (repeatable)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    values: dict[str, object] = {
        "seed": args.seed,
        "listeners": args.listeners,
        "free_listener_share": args.free_listener_share,
        "catalogue": args.catalogue,
        "clock": args.clock,
        "rate_limit": args.rate_limit or None,
        "rate_window_s": args.rate_window_s,
        "access_token_ttl_s": args.access_token_ttl_s,
        "rotate_refresh_tokens": args.rotate_refresh_tokens,
        "public_url": args.public_url or f"http://{args.host}:{args.port}",
        "apps": args.app,
    }
    if args.start_ms is not None:
        values["start_ms"] = args.start_ms
    return FakeConfig.model_validate(values), args.host, args.port, args.log_level


def main(argv: list[str] | None = None) -> None:
    config, host, port, log_level = parse_config(argv)
    # Requests held by an injected latency fault must not hold up a stop for their whole delay.
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
