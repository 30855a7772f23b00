"""Builds the one OpenAPI document of the public API from the services' own documents.

Only the operations of the public API table are kept (a service's internal, OAuth and key-set
routes never appear). Schemas keep their names unless two services mean different things by
one name; then the later one is prefixed with its service's name. The document also states
what the gateway itself may answer for every operation (429, 413, 502, 503, 504, and 401 at
the edge), and describes every error as what it is on the wire: ``application/problem+json``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backbeat.gateway.domain.routes import PUBLIC_OPERATIONS, PublicOperation, Upstream

PROBLEM_CONTENT_TYPE = "application/problem+json"
SCHEMA_REF_PREFIX = "#/components/schemas/"
SECURITY_SCHEME = "BackbeatAccessToken"

Document = dict[str, Any]

# What the gateway answers on its own, for any operation.
_GATEWAY_ERRORS: dict[str, str] = {
    "429": "Too many requests from this user or address; wait for Retry-After seconds",
    "502": "The service behind this operation is not reachable",
    "503": "The gateway cannot take the request right now (busy, or keys not yet loaded)",
    "504": "The service behind this operation did not answer in time",
}
_UNAUTHORIZED = "The bearer token is missing or not valid"
_TOO_LARGE = "The request body is larger than the gateway accepts"


@dataclass(frozen=True, slots=True)
class MergedDocument:
    document: Document
    # Public operations no service document described (its service unreachable, or not
    # serving that route yet): "GET /api/playback/now".
    missing: tuple[str, ...]


def merge_documents(
    documents: Mapping[Upstream, Document],
    problem_schema: Mapping[str, Any],
    *,
    title: str = "Backbeat public API",
    version: str = "0.1.0",
    operations: Iterable[PublicOperation] = PUBLIC_OPERATIONS,
) -> MergedDocument:
    """The public API's document, from each service's ``/openapi.json``."""
    schemas: dict[str, Any] = {}
    renames: dict[Upstream, dict[str, str]] = {}
    for upstream, document in documents.items():
        renames[upstream] = _claim_names(upstream, document, schemas)
    problem_name = _claim_problem(problem_schema, schemas)

    paths: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for operation in operations:
        source = documents.get(operation.upstream, {}).get("paths", {}).get(operation.path, {})
        found = source.get(operation.method.lower())
        if not isinstance(found, dict):
            missing.append(f"{operation.method} {operation.path}")
            continue
        described = _rename_refs(copy.deepcopy(found), renames[operation.upstream])
        _describe_errors(described, operation, problem_name)
        paths.setdefault(operation.path, {})[operation.method.lower()] = described

    merged: Document = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Every public operation of Backbeat, as served through the gateway. Errors are "
                "RFC 9457 problem details with a stable `code`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _referenced(paths, schemas),
            "securitySchemes": {SECURITY_SCHEME: {"type": "http", "scheme": "bearer"}},
        },
    }
    return MergedDocument(merged, tuple(missing))


def _claim_names(upstream: Upstream, document: Document, schemas: dict[str, Any]) -> dict[str, str]:
    """Adds ``document``'s schemas to ``schemas``; returns the renames of clashing names."""
    own = document.get("components", {}).get("schemas", {})
    renames = {
        name: (
            name
            if name not in schemas or schemas[name] == schema
            else f"{upstream.value.capitalize()}{name}"
        )
        for name, schema in own.items()
    }
    for name, schema in own.items():
        schemas[renames[name]] = _rename_refs(copy.deepcopy(schema), renames)
    return renames


def _claim_problem(problem_schema: Mapping[str, Any], schemas: dict[str, Any]) -> str:
    name = "Problem"
    if name in schemas and schemas[name] != problem_schema:
        name = "GatewayProblem"
    schemas[name] = dict(problem_schema)
    return name


def _rename_refs(value: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX):
            name = ref[len(SCHEMA_REF_PREFIX) :]
            value["$ref"] = SCHEMA_REF_PREFIX + renames.get(name, name)
        for item in value.values():
            _rename_refs(item, renames)
    elif isinstance(value, list):
        for item in value:
            _rename_refs(item, renames)
    return value


def _problem_response(description: str, problem_name: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": SCHEMA_REF_PREFIX + problem_name}}},
    }


def _describe_errors(described: dict[str, Any], op: PublicOperation, problem_name: str) -> None:
    responses: dict[str, Any] = described.setdefault("responses", {})
    for status, response in list(responses.items()):
        if not status.isdigit() or int(status) < 400:
            continue
        content = response.get("content", {})
        if PROBLEM_CONTENT_TYPE in content or status == "422":
            # Services answer every error, validation included, as problem details; their
            # framework documents some as application/json or with its own validation shape.
            responses[status] = _problem_response(
                response.get("description", "Error"), problem_name
            )
    for status, description in _GATEWAY_ERRORS.items():
        responses.setdefault(status, _problem_response(description, problem_name))
    if "requestBody" in described:
        responses.setdefault("413", _problem_response(_TOO_LARGE, problem_name))
    if op.needs_user:
        responses.setdefault("401", _problem_response(_UNAUTHORIZED, problem_name))
        described["security"] = [{SECURITY_SCHEME: []}]


def _referenced(paths: Mapping[str, Any], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """The schemas ``paths`` refer to, directly or through other schemas."""
    wanted: set[str] = set()
    pending = list(_refs(paths))
    while pending:
        name = pending.pop()
        if name in wanted or name not in schemas:
            continue
        wanted.add(name)
        pending.extend(_refs(schemas[name]))
    return {name: schemas[name] for name in sorted(wanted)}


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX):
            yield ref[len(SCHEMA_REF_PREFIX) :]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
