"""Injected faults: what to break, for which endpoints, for how long or how many calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["rate_limit", "server_error", "latency", "connection_reset"]
RetryAfterFormat = Literal["seconds", "http-date"]

# Endpoint names a fault can target; "web_api" is every /v1 path, "*" every Spotify path.
ENDPOINTS = frozenset(
    {
        "authorize",
        "token",
        "me",
        "player",
        "currently_playing",
        "recently_played",
        "play",
        "pause",
        "next",
        "previous",
        "web_api",
        "*",
    }
)
WEB_API_ENDPOINTS = frozenset(
    {"me", "player", "currently_playing", "recently_played", "play", "pause", "next", "previous"}
)


@dataclass(slots=True)
class Fault:
    id: int
    endpoint: str
    kind: FaultKind
    status: int = 503
    retry_after_s: int = 1
    retry_after_format: RetryAfterFormat = "seconds"
    latency_ms: int = 0
    remaining: int | None = None
    expires_at_ms: int | None = None

    def targets(self, endpoint: str) -> bool:
        if self.endpoint == "*":
            return True
        if self.endpoint == "web_api":
            return endpoint in WEB_API_ENDPOINTS
        return self.endpoint == endpoint

    def live(self, now_ms: int) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.expires_at_ms is None or now_ms < self.expires_at_ms


@dataclass(slots=True)
class FaultPlan:
    """The active faults. A call gets every matching latency plus the first other fault."""

    faults: dict[int, Fault] = field(default_factory=dict)
    _next_id: int = 1

    def add(self, fault: Fault) -> Fault:
        fault.id = self._next_id
        self._next_id += 1
        self.faults[fault.id] = fault
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        if fault_id is None:
            cleared = len(self.faults)
            self.faults.clear()
            return cleared
        return 1 if self.faults.pop(fault_id, None) is not None else 0

    def active(self, now_ms: int) -> list[Fault]:
        for fault_id in [f.id for f in self.faults.values() if not f.live(now_ms)]:
            del self.faults[fault_id]
        return list(self.faults.values())

    def strike(self, endpoint: str, now_ms: int) -> list[Fault]:
        """The faults this call suffers; each one used up counts down its `remaining`."""
        if not self.faults:
            return []
        struck: list[Fault] = []
        terminal_taken = False
        for fault in self.active(now_ms):
            if not fault.targets(endpoint):
                continue
            if fault.kind != "latency":
                if terminal_taken:
                    continue
                terminal_taken = True
            if fault.remaining is not None:
                fault.remaining -= 1
            struck.append(fault)
        return struck
