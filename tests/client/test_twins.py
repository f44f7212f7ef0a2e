"""`Client` (sync.py) is generated from `AsyncClient` (asynchronous.py) by `scripts/unasync`: the
two must be in step, and the check that says so must fail when they are not. The real files are
only read; what is edited is a temporary copy."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gatehouse.client import AsyncClient, Client
from tests.client.test_surface import PUBLIC

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unasync"


@pytest.fixture(scope="module")
def unasync() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT), run_name="unasync")


def test_the_generated_client_is_in_step_with_its_source(unasync: dict[str, Any]) -> None:
    assert unasync["check"]() is None
    assert unasync["TARGET"].read_text().startswith(unasync["HEADER"])


def test_the_check_fails_when_the_generated_file_was_edited(
    unasync: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "sync.py"
    text = unasync["TARGET"].read_text()
    edited.write_text(text.replace("return compiled.check(", "return not compiled.check(", 1))
    assert edited.read_text() != text
    problem = unasync["check"](unasync["SOURCE"], edited)
    assert problem is not None and str(edited) in problem
    assert unasync["main"](["--check"], unasync["SOURCE"], edited) == 1
    assert str(edited) in capsys.readouterr().err
    assert unasync["check"](unasync["SOURCE"], tmp_path / "missing.py") is not None


def test_the_script_checks_the_real_files() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_rewrite_is_by_whole_words(unasync: dict[str, Any]) -> None:
    source = "async def f(x: AsyncClient) -> None:\n    await x.aclose()  # awaits aclosed\n"
    assert unasync["generate"](source) == unasync["HEADER"] + (
        "def f(x: Client) -> None:\n    x.close()  # awaits aclosed\n"
    )


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_every_public_method_has_its_docstring(cls: type) -> None:
    close = "close" if cls is Client else "aclose"
    for name in [*PUBLIC, close, "__init__"]:
        assert (getattr(cls, name).__doc__ or "").strip(), f"{cls.__name__}.{name}"
