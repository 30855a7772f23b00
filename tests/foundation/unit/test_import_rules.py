"""The import rules of the root pyproject.toml ([tool.importlinter]) hold, and they bite.

The second half copies every package's source into a temporary tree, breaks one rule there and
runs lint-imports with the project's own configuration against the copy: the copy comes first on
PYTHONPATH, so it is what gets analysed, and the working tree is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = REPO / "pyproject.toml"


def lint_imports(
    *args: str, cwd: Path = REPO, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *args, str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    # Every rule the architecture names is checked, not just some of them.
    for contract in (
        "Services never import each other",
        "Libraries never import a service",
        "Only tokens speaks OAuth to Spotify",
        "A service's domain/ imports no framework",
    ):
        assert contract in result.stdout


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """Every backbeat package's source, side by side in one `backbeat` namespace."""
    root = tmp_path / "src"
    packages = [*REPO.glob("libs/*/src/backbeat/*"), *REPO.glob("services/*/src/backbeat/*")]
    for package in packages:
        shutil.copytree(
            package, root / "backbeat" / package.name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


VIOLATIONS = [
    pytest.param(
        "services-independent",
        "watcher/__init__.py",
        "import backbeat.playback",
        "backbeat.watcher -> backbeat.playback",
        id="a service imports another",
    ),
    pytest.param(
        "libs-below-services",
        "events/__init__.py",
        "import backbeat.tokens",
        "backbeat.events is not allowed to import backbeat.tokens",
        id="a library imports a service",
    ),
    pytest.param(
        "spotify-authorization-tokens-only",
        "gateway/__init__.py",
        "from backbeat.spotify.authorization import authorize_url",
        "backbeat.gateway is not allowed to import backbeat.spotify.authorization",
        id="a service other than tokens starts the OAuth flow",
    ),
    pytest.param(
        "spotify-authorization-tokens-only",
        "watcher/__init__.py",
        "from backbeat.spotify.accounts import SpotifyAccounts",
        "backbeat.watcher is not allowed to import backbeat.spotify.accounts",
        id="a service other than tokens refreshes a Spotify token",
    ),
    pytest.param(
        "domain-pure",
        "playback/domain/__init__.py",
        "import sqlalchemy",
        "backbeat.playback.domain is not allowed to import sqlalchemy",
        id="a domain imports the database layer",
    ),
    pytest.param(
        "domain-pure",
        "watcher/domain/__init__.py",
        "from backbeat.spotify.client import SpotifyClient",
        "backbeat.watcher.domain is not allowed to import httpx",
        id="a domain reaches HTTP through a library",
    ),
]


@pytest.mark.parametrize(("contract", "module", "line", "reported"), VIOLATIONS)
def test_a_broken_rule_fails_lint_imports(
    source_copy: Path, contract: str, module: str, line: str, reported: str
) -> None:
    target = source_copy / "backbeat" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa: F401\n")

    result = lint_imports("--contract", contract, cwd=source_copy, pythonpath=source_copy)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert reported in result.stdout, result.stdout
