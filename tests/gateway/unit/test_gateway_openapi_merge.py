"""The public API document: exactly the table's operations, consistent schemas, and every
answer the gateway itself may give."""

from __future__ import annotations

from typing import Any

from backbeat.gateway.domain.openapi import merge_documents
from backbeat.gateway.domain.routes import PUBLIC_OPERATIONS, Upstream
from backbeat.runtime.problems import Problem

PROBLEM = Problem.model_json_schema(ref_template="#/components/schemas/{model}")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def operation(response_schema: str | None = None, **extra: Any) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK"}}
    if response_schema:
        responses["200"]["content"] = {"application/json": {"schema": ref(response_schema)}}
    return {"responses": responses, **extra}


def service_document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


AUTH = service_document(
    {
        "/api/auth/me": {"get": operation("Me"), "delete": operation()},
        "/api/auth/login": {
            "post": operation(
                "Tokens",
                requestBody={"content": {"application/json": {"schema": ref("Credentials")}}},
            )
        },
        "/oauth/token": {"post": operation("Tokens")},
        "/internal/v1/users/{user_id}": {"get": operation("Me")},
        "/api/auth/password": {"post": operation()},
    },
    {
        "Me": {"type": "object", "properties": {"id": {"type": "string"}}},
        "Tokens": {"type": "object", "properties": {"access_token": {"type": "string"}}},
        "Credentials": {"type": "object"},
        "Jwks": {"type": "object"},
    },
)
TOKENS = service_document(
    {
        "/api/spotify/connection": {"get": operation("Me")},
        "/internal/v1/users/{user_id}/spotify/access-token": {"get": operation("Token")},
    },
    {
        # The same name as auth's schema, meaning something else.
        "Me": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Token": {"type": "object"},
    },
)


def merged(*documents: tuple[Upstream, dict[str, Any]]) -> Any:
    return merge_documents(dict(documents), PROBLEM)


def test_only_operations_of_the_public_table_are_kept() -> None:
    result = merged((Upstream.AUTH, AUTH), (Upstream.TOKENS, TOKENS))
    paths = result.document["paths"]
    assert set(paths) == {"/api/auth/me", "/api/auth/login", "/api/spotify/connection"}
    assert set(paths["/api/auth/me"]) == {"get", "delete"}


def test_operations_no_service_described_are_reported_missing() -> None:
    result = merged((Upstream.AUTH, AUTH))
    table = {f"{op.method} {op.path}" for op in PUBLIC_OPERATIONS}
    assert set(result.missing) == table - {
        "GET /api/auth/me",
        "DELETE /api/auth/me",
        "POST /api/auth/login",
    }


def test_a_schema_name_two_services_use_differently_is_split_and_refs_follow() -> None:
    document = merged((Upstream.AUTH, AUTH), (Upstream.TOKENS, TOKENS)).document
    schemas = document["components"]["schemas"]
    me = document["paths"]["/api/auth/me"]["get"]["responses"]["200"]["content"]
    connection = document["paths"]["/api/spotify/connection"]["get"]["responses"]["200"]
    assert me["application/json"]["schema"] == ref("Me")
    assert connection["content"]["application/json"]["schema"] == ref("TokensMe")
    assert schemas["Me"]["properties"] == {"id": {"type": "string"}}
    assert schemas["TokensMe"]["properties"] == {"status": {"type": "string"}}


def test_schemas_only_dropped_routes_used_are_left_out() -> None:
    schemas = merged((Upstream.AUTH, AUTH), (Upstream.TOKENS, TOKENS)).document["components"][
        "schemas"
    ]
    assert "Jwks" not in schemas and "Token" not in schemas
    assert {"Me", "TokensMe", "Tokens", "Credentials", "Problem"} <= set(schemas)


def test_every_operation_documents_the_gateway_s_own_answers() -> None:
    paths = merged((Upstream.AUTH, AUTH)).document["paths"]
    me, login = paths["/api/auth/me"]["get"], paths["/api/auth/login"]["post"]
    for status in ("429", "502", "503", "504"):
        for described in (me, login):
            assert described["responses"][status]["content"] == {
                "application/problem+json": {"schema": ref("Problem")}
            }
    # A token is checked at the edge on protected routes only; bodies can be too large.
    assert "401" in me["responses"] and me["security"] == [{"BackbeatAccessToken": []}]
    assert "401" not in login["responses"] and "security" not in login
    assert "413" in login["responses"] and "413" not in me["responses"]


def test_errors_are_described_as_problem_details_as_they_are_sent() -> None:
    described = operation("Me")
    described["responses"]["422"] = {
        "description": "Validation Error",
        "content": {"application/json": {"schema": ref("HTTPValidationError")}},
    }
    described["responses"]["409"] = {
        "description": "Conflict",
        "content": {"application/problem+json": {}, "application/json": {"schema": ref("Problem")}},
    }
    document = service_document({"/api/auth/me": {"get": described}}, {"Me": {}})
    responses = merged((Upstream.AUTH, document)).document["paths"]["/api/auth/me"]["get"][
        "responses"
    ]
    for status in ("409", "422"):
        assert responses[status]["content"] == {
            "application/problem+json": {"schema": ref("Problem")}
        }
