"""The fake answers in Spotify's documented shapes: its player and profile responses validate
against the schemas of Spotify's OpenAPI description (shared/spotify/web-api.openapi.yml)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from .conftest import FAKE_URL, FakeSpotifyHarness, HarnessFactory

OPENAPI = Path(__file__).parents[3] / ".." / "shared" / "spotify" / "web-api.openapi.yml"

# Fields the document's prose calls nullable ("Can be `null`") without marking them so, plus
# `cursors`, which Spotify sends as null on an empty recently-played page.
_ALSO_NULLABLE = {"cursors"}


def _allow_null(schema: Any) -> None:
    """Make each property whose description says it can be null accept null."""
    if isinstance(schema, dict):
        for name, prop in list((schema.get("properties") or {}).items()):
            description = str(prop.get("description", "")).lower()
            if prop.get("nullable"):
                continue
            if "null" in description or name in _ALSO_NULLABLE:
                schema["properties"][name] = {"anyOf": [prop, {"enum": [None]}]}
        for value in schema.values():
            _allow_null(value)
    elif isinstance(schema, list):
        for value in schema:
            _allow_null(value)


def _map_discriminators(schemas: dict[str, Any], schema: Any) -> None:
    """Give each `type` discriminator the mapping the document leaves out.

    Without a mapping OpenAPI reads the value as a schema name, but the values here are
    `track` and `episode`, not `TrackObject` and `EpisodeObject`.
    """
    if isinstance(schema, dict):
        discriminator = schema.get("discriminator")
        if discriminator and "mapping" not in discriminator and "oneOf" in schema:
            mapping = {}
            for option in schema["oneOf"]:
                target = schemas[option["$ref"].rsplit("/", 1)[-1]]
                parts = [target, *target.get("allOf", [])]
                for part in parts:
                    part = schemas[part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part
                    for value in part.get("properties", {}).get("type", {}).get("enum", []):
                        mapping[value] = option["$ref"]
            discriminator["mapping"] = mapping
        for value in schema.values():
            _map_discriminators(schemas, value)
    elif isinstance(schema, list):
        for value in schema:
            _map_discriminators(schemas, value)


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return document


@cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = copy.deepcopy(_document()["components"])
    _map_discriminators(components["schemas"], components["schemas"])
    _allow_null(components["schemas"])
    return components


def _response_schema(path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
    document = _document()
    response = document["paths"][path][method]["responses"][status]
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = document["components"]["responses"][name]
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


def assert_matches(path: str, body: Any, status: str = "200", method: str = "get") -> None:
    # The validator resolves "#/components/..." against the schema's own root.
    schema = {**_response_schema(path, method, status), "components": _components()}
    errors = sorted(OAS30Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_the_openapi_document_is_where_ci_expects_it() -> None:
    assert OPENAPI.is_file(), OPENAPI


async def _get(harness: FakeSpotifyHarness, token: str, path: str, **params: str) -> httpx.Response:
    return await harness.http.get(
        f"{FAKE_URL}/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )


async def _script(harness: FakeSpotifyHarness, user_id: str, **body: Any) -> None:
    response = await harness.control("PUT", f"/users/{user_id}/playback", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
async def connected(harness: FakeSpotifyHarness) -> tuple[FakeSpotifyHarness, str, str]:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id)
    return harness, user_id, grant.access_token.get_secret_value()


async def test_profile_matches_private_user_object(
    connected: tuple[FakeSpotifyHarness, str, str],
) -> None:
    harness, _, token = connected
    response = await _get(harness, token, "/me")
    assert response.status_code == 200
    assert_matches("/me", response.json())


@pytest.mark.parametrize(
    ("script", "additional_types"),
    [
        ({"catalog_type": "track", "is_playing": True, "progress_ms": 12_345}, "track"),
        ({"catalog_type": "track", "is_playing": False}, "track"),
        ({"catalog_type": "episode", "is_playing": True}, "track,episode"),
        ({"catalog_type": "episode", "is_playing": True}, "track"),
        ({"catalog_type": "ad", "is_playing": True}, "track"),
    ],
    ids=["track", "paused-track", "episode", "episode-not-asked-for", "ad"],
)
async def test_player_reads_match_their_schemas(
    connected: tuple[FakeSpotifyHarness, str, str], script: dict[str, Any], additional_types: str
) -> None:
    harness, user_id, token = connected
    kind = script.pop("catalog_type")
    if kind == "ad":
        await _script(harness, user_id, ad=True, **script)
    else:
        item = (await harness.control("GET", "/catalog", params={"type": kind})).json()["items"][3]
        await _script(harness, user_id, **{f"{kind}_id": item["id"]}, **script)
    await harness.advance(1_000)

    state = await _get(harness, token, "/me/player", additional_types=additional_types)
    now = await _get(
        harness, token, "/me/player/currently-playing", additional_types=additional_types
    )

    assert state.status_code == now.status_code == 200
    assert_matches("/me/player", state.json())
    assert_matches("/me/player/currently-playing", now.json())


async def test_recently_played_pages_match_their_schema(
    connected: tuple[FakeSpotifyHarness, str, str],
) -> None:
    harness, user_id, token = connected
    empty = await _get(harness, token, "/me/player/recently-played")
    assert_matches("/me/player/recently-played", empty.json())
    tracks = (await harness.control("GET", "/catalog", params={"limit": 3})).json()["items"]
    for track in tracks:
        await _script(harness, user_id, track_id=track["id"], context_uri=track["album_uri"])
        await harness.advance(45_000)
    full = await _get(harness, token, "/me/player/recently-played", limit="2")
    assert len(full.json()["items"]) == 2
    assert_matches("/me/player/recently-played", full.json())


async def test_error_bodies_match_spotifys_error_object(
    connected: tuple[FakeSpotifyHarness, str, str],
) -> None:
    harness, _, token = connected
    await harness.control(
        "POST", "/faults", json={"endpoint": "player", "kind": "rate_limit", "count": 1}
    )
    limited = await _get(harness, token, "/me/player")
    unauthorized = await _get(harness, "not-a-token", "/me/player")
    assert (limited.status_code, unauthorized.status_code) == (429, 401)
    assert_matches("/me/player", limited.json(), status="429")
    assert_matches("/me/player", unauthorized.json(), status="401")


async def test_simulated_listeners_are_served_in_documented_shapes(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(listeners=12, seed=5, free_listener_share=0.3)
    tokens = [
        (await harness.connect(f"sim{n:04d}")).access_token.get_secret_value() for n in range(1, 13)
    ]
    seen_types: set[str] = set()
    # Eleven looks, five minutes apart, stay inside the tokens' hour.
    for _ in range(11):
        await harness.advance(5 * 60_000)
        for token in tokens:
            state = await _get(harness, token, "/me/player", additional_types="track,episode")
            assert state.status_code in (200, 204), state.text
            if state.status_code == 204:
                continue
            seen_types.add(state.json()["currently_playing_type"])
            assert_matches("/me/player", state.json())
    history = await _get(harness, tokens[0], "/me/player/recently-played", limit="50")
    assert_matches("/me/player/recently-played", history.json())
    assert "track" in seen_types
