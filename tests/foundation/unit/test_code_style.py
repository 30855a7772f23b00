"""The tree stays as ruff (configured once in the root pyproject.toml) wants it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUFF = Path(sys.executable).with_name("ruff")


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUFF), *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_finds_nothing_to_report() -> None:
    result = ruff("check", ".")
    assert result.returncode == 0, result.stdout


def test_every_file_is_formatted() -> None:
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout
