"""The error vocabulary is closed and tied together: the `Code` enum, the one status table
(`api.errors.ERRORS`), docs/ERRORS.md and the page every `error_url` points at; each error class
raises only codes of its status; unexpected errors are logged with their request id."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import logging
import re
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from gatehouse.api import errors as api_errors
from gatehouse.api.app import create_app
from gatehouse.errors import Code, Kind
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import Conflict, SqlStore
from tests.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "gatehouse"
FAMILY_STATUS = {"InvalidInput": 400, "Unauthorized": 401, "Denied": 403, "Duplicate": 409}


def test_every_code_has_one_status_and_one_line_of_docs() -> None:
    assert set(api_errors.ERRORS) == set(Code)
    documented = re.findall(
        r"^\| `([a-z_]+)` \| (\d{3}) \|", (ROOT / "docs/ERRORS.md").read_text(), re.M
    )
    assert [code for code, _ in documented] == [c.value for c in api_errors.ERRORS]
    assert {code: int(status) for code, status in documented} == {
        c.value: s for c, s in api_errors.STATUS.items()
    }


def test_docs_errors_md_is_generated_from_the_table() -> None:
    assert (ROOT / "docs/ERRORS.md").read_text() == api_errors.render_markdown(), (
        "docs/ERRORS.md is stale: run `python -m gatehouse.api.errors > docs/ERRORS.md`"
    )


def _code_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id == "Code":
            return Code[node.attr].value
        if node.value.id == "Kind":
            return Kind[node.attr].code.value
    return None


def _uses() -> tuple[set[str], list[tuple[str, str, str]]]:
    """Every code named in src/ outside the vocabulary's own tables, and (file, class, code) for
    every error class built with an explicit or default code."""
    defaults = {
        "InvalidInput": "invalid_request",
        "Unauthorized": "unauthorized_credentials",
        "Denied": "session_authorization_error",
    }
    named: set[str] = set()
    built: list[tuple[str, str, str]] = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        if path == SRC / "errors.py":  # only its helper functions raise
            tree = ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef)], [])
        if path == SRC / "api" / "errors.py":  # not the table that documents every code
            tree = ast.Module([n for n in tree.body if not isinstance(n, ast.AnnAssign)], [])
        for node in ast.walk(tree):
            code = _code_of(node) if isinstance(node, ast.expr) else None
            if code:
                named.add(code)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
                if name in FAMILY_STATUS:
                    explicit = [
                        _code_of(a)
                        for a in [*node.args, *(k.value for k in node.keywords if k.arg == "code")]
                    ]
                    codes = [c for c in explicit if c]
                    code = codes[0] if codes else defaults.get(name)
                    if code:
                        built.append((str(path), name, code))
                        named.add(code)
    return named, built


def test_every_code_is_raised_somewhere_and_only_by_its_family() -> None:
    named, built = _uses()
    assert {c.value for c in Code} - named == set(), "codes nothing raises"
    wrong = [
        (f, cls, code)
        for f, cls, code in built
        if api_errors.STATUS[Code(code)] != FAMILY_STATUS[cls]
    ]
    assert wrong == []


def test_every_error_url_names_an_anchor_of_the_page_the_server_serves(
    server: RunningServer,
) -> None:
    refused = httpx.get(
        f"{server.url}/v1/b2b/organizations/org-unknown", auth=(server.project_id, server.secret)
    )
    assert refused.status_code == 404
    url = refused.json()["error_url"]
    assert url == f"{server.url}/docs/errors#organization_not_found"
    page = httpx.get(url.split("#")[0])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for code in Code:
        assert f'id="{code.value}"' in page.text


class Calls:
    """Requests to the app in process (httpx's ASGI transport), no socket needed."""

    def __init__(self, app: object) -> None:
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]

    def get(self, path: str) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://app") as c:
                return await c.get(path)

        # In a thread of its own: another test's browser driver may own this thread's loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, call()).result()


@pytest.fixture
def app_with_broken_routes(store: SqlStore) -> Calls:
    """The real app and error handlers, with two routes that fail the way bugs do."""

    async def boom(request: object) -> None:
        raise RuntimeError("a bug")

    async def untranslated(request: object) -> None:
        raise Conflict("fk_members_organization_id_organizations", "no such organization")

    app = create_app(Gatehouse(store))
    app.router.routes += [Route("/boom", boom), Route("/untranslated", untranslated)]
    return Calls(app)


def test_an_unexpected_error_is_logged_with_its_request_id(
    app_with_broken_routes: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gatehouse.api.errors"):
        response = app_with_broken_routes.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error_type"] == "internal_server_error"
    assert body["request_id"] in body["error_message"]
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_an_untranslated_storage_conflict_is_a_409_not_a_500(
    app_with_broken_routes: Calls,
) -> None:
    response = app_with_broken_routes.get("/untranslated")
    assert response.status_code == 409
    assert response.json()["error_type"] == "conflict"
