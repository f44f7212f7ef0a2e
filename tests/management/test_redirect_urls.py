"""Redirect URLs through the official `stytch-management` client over HTTPS: create / get /
get_all / update / delete per environment, defaults per type (promotion, moving, suppression),
the dashboard matrix, and refusals that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stytch_management.errors import StytchError
from stytch_management.models.redirecturls import URLType

from tests.management.test_management_sdk import Clients, refused, unique
from tests.server import RunningServer


@pytest.fixture(scope="module")
def clients(tls_server: RunningServer) -> Iterator[Clients]:
    made = Clients(tls_server)
    yield made
    made.close()


@pytest.fixture(scope="module")
def admin(clients: Clients) -> Any:
    return clients.management()


@pytest.fixture
def project(admin: Any) -> Iterator[str]:
    slug = admin.projects.create(name=unique("Project")).project.project_slug
    yield slug
    try:
        admin.projects.delete(project_slug=slug)
    except StytchError as error:
        assert error.details.error_type == "project_not_found"


def _types(redirect_url: Any) -> dict[str, bool]:
    return {t.type.value: t.is_default for t in redirect_url.valid_types}


def test_create_get_get_all_update_delete(admin: Any, project: str) -> None:
    urls = admin.redirect_urls
    first = urls.create(
        project_slug=project,
        environment_slug="test",
        url="https://app.example.com/authenticate",
        valid_types=[
            URLType(type="LOGIN", is_default=False),
            URLType(type="SIGNUP", is_default=False),
        ],
    ).redirect_url
    # The first URL of a type becomes its default, though is_default was false.
    assert first.url == "https://app.example.com/authenticate"
    assert _types(first) == {"LOGIN": True, "SIGNUP": True}
    second = urls.create(
        project_slug=project,
        environment_slug="test",
        url="http://localhost:3000/callback",
        valid_types=[
            {"type": "LOGIN", "is_default": False},
            {"type": "DISCOVERY", "is_default": True},
        ],
    ).redirect_url
    assert _types(second) == {"LOGIN": False, "DISCOVERY": True}
    got = urls.get(project_slug=project, environment_slug="test", url=second.url).redirect_url
    assert _types(got) == {"LOGIN": False, "DISCOVERY": True}
    listed = urls.get_all(project_slug=project, environment_slug="test").redirect_urls
    assert {u.url: _types(u) for u in listed} == {
        first.url: {"LOGIN": True, "SIGNUP": True},
        second.url: {"LOGIN": False, "DISCOVERY": True},
    }
    # Each environment has its own.
    assert urls.get_all(project_slug=project, environment_slug="live").redirect_urls == []
    # Making the second the LOGIN default moves the default off the first.
    updated = urls.update(
        project_slug=project,
        environment_slug="test",
        url=second.url,
        valid_types=[
            URLType(type="LOGIN", is_default=True),
            URLType(type="INVITE", is_default=False),
        ],
    ).redirect_url
    assert _types(updated) == {"LOGIN": True, "INVITE": True}
    listed = urls.get_all(project_slug=project, environment_slug="test").redirect_urls
    assert {u.url: _types(u) for u in listed} == {
        first.url: {"LOGIN": False, "SIGNUP": True},
        second.url: {"LOGIN": True, "INVITE": True},
    }
    # Deleting the LOGIN default promotes the other LOGIN URL.
    urls.delete(project_slug=project, environment_slug="test", url=second.url)
    listed = urls.get_all(project_slug=project, environment_slug="test").redirect_urls
    assert {u.url: _types(u) for u in listed} == {first.url: {"LOGIN": True, "SIGNUP": True}}
    with refused(404, "redirect_url_not_found"):
        urls.get(project_slug=project, environment_slug="test", url=second.url)


def test_do_not_promote_defaults_leaves_a_type_without_default(admin: Any, project: str) -> None:
    urls = admin.redirect_urls
    a = urls.create(
        project_slug=project,
        environment_slug="test",
        url="https://a.example.com/cb",
        valid_types=[URLType(type="RESET_PASSWORD", is_default=False)],
        do_not_promote_defaults=True,
    ).redirect_url
    assert _types(a) == {"RESET_PASSWORD": False}
    b = urls.create(
        project_slug=project,
        environment_slug="test",
        url="https://b.example.com/cb",
        valid_types=[URLType(type="RESET_PASSWORD", is_default=True)],
    ).redirect_url
    assert _types(b) == {"RESET_PASSWORD": True}
    urls.delete(
        project_slug=project, environment_slug="test", url=b.url, do_not_promote_defaults=True
    )
    listed = urls.get_all(project_slug=project, environment_slug="test").redirect_urls
    assert {u.url: _types(u) for u in listed} == {a.url: {"RESET_PASSWORD": False}}


def test_refusals_change_nothing(
    tls_server: RunningServer, clients: Clients, admin: Any, project: str
) -> None:
    urls = admin.redirect_urls
    urls.create(
        project_slug=project,
        environment_slug="test",
        url="https://app.example.com/cb",
        valid_types=[URLType(type="LOGIN", is_default=True)],
    )
    manager, agent = clients.of_role("support_manager"), clients.of_role("support_agent")
    before = tls_server.snapshot()
    with refused(409, "duplicate_redirect_url"):
        urls.create(
            project_slug=project,
            environment_slug="test",
            url="https://app.example.com/cb",
            valid_types=[URLType(type="SIGNUP", is_default=True)],
        )
    with refused(400, "invalid_request"):
        urls.create(project_slug=project, environment_slug="test", url="https://x.example.com/")
    with refused(400, "invalid_request"):
        urls.create(
            project_slug=project,
            environment_slug="test",
            url="ftp://x.example.com/",
            valid_types=[URLType(type="LOGIN", is_default=True)],
        )
    with refused(400, "invalid_request"):
        urls.create(
            project_slug=project,
            environment_slug="test",
            url="https://x.example.com/",
            valid_types=[{"type": "NOPE", "is_default": True}],
        )
    with refused(404, "redirect_url_not_found"):
        urls.update(
            project_slug=project,
            environment_slug="test",
            url="https://unknown.example.com/",
            valid_types=[URLType(type="LOGIN", is_default=True)],
        )
    with refused(404, "redirect_url_not_found"):
        urls.delete(
            project_slug=project, environment_slug="test", url="https://unknown.example.com/"
        )
    with refused(404, "environment_not_found"):
        urls.get_all(project_slug=project, environment_slug="nope")
    # The matrix: a Support Manager may read (project_config.view), not write; an Agent neither.
    assert (
        len(
            manager.redirect_urls.get_all(
                project_slug=project, environment_slug="test"
            ).redirect_urls
        )
        == 1
    )
    with refused(403, "forbidden"):
        manager.redirect_urls.create(
            project_slug=project,
            environment_slug="test",
            url="https://m.example.com/",
            valid_types=[URLType(type="LOGIN", is_default=False)],
        )
    with refused(403, "forbidden"):
        agent.redirect_urls.get_all(project_slug=project, environment_slug="test")
    assert tls_server.snapshot() == before
