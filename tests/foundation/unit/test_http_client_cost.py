"""An HTTP request made with the shared client stack (httpx over httpcore) must not search the
import system: httpcore asks on every request which async library runs, and when that check is
a failed import it walks sys.path each time, which cost a busy poller a fifth of its CPU."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

import httpx

from backbeat.runtime.testing import StaticJson


class CountingFinder(importlib.abc.MetaPathFinder):
    """Notes every module the import system is asked to find, and finds none itself."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        self.searched.append(fullname)


async def test_repeated_requests_never_search_for_modules() -> None:
    with StaticJson({"ok": True}) as server:
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.url)).json() == {"ok": True}  # imports settle
            finder = CountingFinder()
            sys.meta_path.insert(0, finder)
            try:
                for _ in range(20):
                    assert (await http.get(server.url)).status_code == 200
            finally:
                sys.meta_path.remove(finder)
    assert finder.searched == [], f"modules searched on every request: {set(finder.searched)}"
