"""Prints the third-party requirements of the given Backbeat packages (directories holding a
pyproject.toml), following their dependencies on other Backbeat packages of this repository.

The service image installs these in a layer of its own, so that a change to the code alone
rebuilds the image in seconds: only the packages themselves are reinstalled.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def local_packages(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pyproject in [*root.glob("libs/*/pyproject.toml"), *root.glob("services/*/pyproject.toml")]:
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = pyproject.parent
    return found


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def main(paths: list[str]) -> None:
    local = local_packages(Path.cwd())
    pending = [Path(path) for path in paths]
    seen: set[Path] = set()
    third_party: set[str] = set()
    while pending:
        package = pending.pop().resolve()
        if package in seen:
            continue
        seen.add(package)
        project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
        for requirement in project.get("dependencies", []):
            name = requirement_name(requirement)
            if name in local:
                pending.append(local[name])
            else:
                third_party.add(requirement)
    print("\n".join(sorted(third_party)))


if __name__ == "__main__":
    main(sys.argv[1:])
