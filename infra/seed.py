"""Seeds the local stack with a demo user whose fake Spotify account is connected and playing.

Idempotent: an existing demo user is signed in again, an existing connection is kept. Goes
through the gateway when it runs (as a person would), otherwise to the services directly.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

import httpx

GATEWAY = os.environ.get("BACKBEAT_SEED_GATEWAY_URL", "http://127.0.0.1:8000")
AUTH = os.environ.get("BACKBEAT_SEED_AUTH_URL", "http://127.0.0.1:8001")
TOKENS = os.environ.get("BACKBEAT_SEED_TOKENS_URL", "http://127.0.0.1:8002")
FAKE = os.environ.get("BACKBEAT_SEED_SPOTIFY_URL", "http://127.0.0.1:8090")
EMAIL = os.environ.get("BACKBEAT_DEMO_EMAIL", "demo@backbeat.dev")
# A development credential for the local demo account only.
PASSWORD = os.environ.get("BACKBEAT_DEMO_PASSWORD", "backbeat-demo")


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    via_gateway = answers(GATEWAY)
    auth, tokens = (GATEWAY, GATEWAY) if via_gateway else (AUTH, TOKENS)
    with httpx.Client(timeout=15) as http:
        body = {"email": EMAIL, "password": PASSWORD}
        signup = http.post(f"{auth}/api/auth/signup", json=body)
        if signup.status_code not in (201, 409):
            print(f"seed: signup failed: {signup.status_code} {signup.text}", file=sys.stderr)
            return 1
        login = http.post(f"{auth}/api/auth/login", json=body)
        login.raise_for_status()
        user = {"Authorization": f"Bearer {login.json()['access_token']}"}

        # Through the gateway, a tokens service that does not answer shows at the connect.
        if not via_gateway and not answers(TOKENS):
            print("seed: the tokens service is not running; Spotify not connected")
            return 0
        # Always (re)connect: the fake keeps its grants in memory, so credentials stored before
        # it last started no longer work there.
        listeners = http.get(f"{FAKE}/_control/simulation").json()["simulated_user_ids"]
        if not listeners:
            print("seed: the Spotify fake has no simulated listeners", file=sys.stderr)
            return 1
        started = http.post(f"{tokens}/api/spotify/connect", headers=user)
        if started.status_code != 200:
            print(f"seed: connect refused: {started.status_code} {started.text}", file=sys.stderr)
            return 1
        authorize = urlsplit(started.json()["authorize_url"])
        consent = http.get(f"{FAKE}/authorize?{authorize.query}&fake_user={listeners[0]}")
        back = urlsplit(consent.headers["location"])
        done = http.get(f"{tokens}/api/spotify/callback?{back.query}")
        if "spotify=connected" not in done.headers.get("location", ""):
            print(f"seed: connecting Spotify failed: {done.headers}", file=sys.stderr)
            return 1
    print(f"seed: demo user {EMAIL} (password {PASSWORD}), Spotify connected as {listeners[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
