"""Redirect URLs: the pages of an application that email links lead to, registered per
environment by type (LOGIN, SIGNUP, INVITE, RESET_PASSWORD, DISCOVERY), with at most one default
per type (the database holds that rule).

`RedirectUrls` is the Management API side (gated by the dashboard matrix: `project_config.view`
to read, `project_config.manage` to write); `resolve` is what the B2B email flows call to pick
the URL of a link: the one given, which must be registered for the type, or the type's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound
from gatehouse.policy import Problem
from gatehouse.services import clock
from gatehouse.services.workspace.operators import Operator
from gatehouse.services.workspace.projects import Projects
from gatehouse.storage.interface import EmailFlowStore, EventStore, ReadTx, Transactions, WriteTx
from gatehouse.storage.rows import RedirectUrlRow

TYPES = ("LOGIN", "SIGNUP", "INVITE", "RESET_PASSWORD", "DISCOVERY")


class _Store(Transactions, EmailFlowStore, EventStore, Protocol):
    """The storage this service uses."""


@dataclass(frozen=True, slots=True)
class RedirectUrl:
    """A registered URL and its types (type -> whether it is that type's default)."""

    url: str
    types: dict[str, bool]


def check_url(url: str, field: str = "url") -> str:
    """An absolute http(s) URL without a fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"`{field}` `{url[:200]}` must be an absolute http(s) url")
    if parts.fragment:
        raise InvalidInput(f"`{field}` `{url[:200]}` must not have a fragment (`#...`)")
    return url


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def grouped(rows: list[RedirectUrlRow]) -> list[RedirectUrl]:
    found: dict[str, dict[str, bool]] = {}
    for row in rows:
        found.setdefault(row["url"], {})[row["type"]] = row["is_default"]
    return [RedirectUrl(url, types) for url, types in found.items()]


def resolve(
    store: EmailFlowStore, tx: ReadTx, environment_id: str, url_type: str, given: str | None
) -> str:
    """The URL a link of `url_type` leads to: `given` if it is registered for that type (its
    query string may differ: a registered URL matches with any query), else the type's
    default. Refused with 400 when `given` is not registered, or none is given and there is
    no default."""
    rows = [r for r in store.redirect_urls(tx, environment_id) if r["type"] == url_type]
    field = f"{url_type.lower()}_redirect_url"
    if given:
        check_url(given, field)
        wanted = _without_query(given)
        if any(_without_query(r["url"]) == wanted for r in rows):
            return given
        raise InvalidInput(
            f"`{given[:200]}` is not a registered {url_type} redirect url of this environment; "
            "register it with the Management API (`redirect_urls.create`)",
            code=Code.NO_MATCH_FOR_PROVIDED_MAGIC_LINK_URL,
        )
    default = next((r["url"] for r in rows if r["is_default"]), None)
    if default is None:
        raise InvalidInput(
            f"pass `{field}`: this environment has no default {url_type} redirect url "
            "(register one with the Management API, `redirect_urls.create`)",
            code=Code.NO_DEFAULT_REDIRECT_URL,
        )
    return default


class RedirectUrls:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects
        self.workspace = projects.workspace
        self.store: _Store = projects.runtime.store

    def _types(self, valid_types: list[dict[str, Any]] | None) -> dict[str, bool]:
        if not valid_types:
            raise InvalidInput(
                "pass `valid_types`: at least one of " + ", ".join(TYPES),
                [Problem("valid_types", "must name at least one type")],
            )
        types: dict[str, bool] = {}
        problems = []
        for i, item in enumerate(valid_types):
            url_type = item.get("type")
            if url_type not in TYPES:
                problems.append(
                    Problem(f"valid_types[{i}].type", "must be one of " + ", ".join(TYPES))
                )
            elif url_type in types:
                problems.append(Problem(f"valid_types[{i}].type", f"`{url_type}` is listed twice"))
            else:
                types[url_type] = bool(item.get("is_default", False))
        if problems:
            raise InvalidInput("invalid `valid_types`", problems)
        return types

    def _current(self, tx: ReadTx, environment_id: str) -> dict[str, dict[str, bool]]:
        return {r.url: r.types for r in grouped(self.store.redirect_urls(tx, environment_id))}

    def _write(
        self,
        tx: WriteTx,
        environment_id: str,
        url: str,
        types: dict[str, bool],
        promote: bool,
        before: dict[str, dict[str, bool]],
    ) -> None:
        """Write `url` with `types`, moving defaults as asked; with `promote`, a type left
        without a default gets one (this URL for its types, else the oldest other)."""
        others = {u: t for u, t in before.items() if u != url}
        for url_type, is_default in list(types.items()):
            has_default = any(t.get(url_type) for t in others.values())
            if is_default and has_default:
                self.store.clear_redirect_default(tx, environment_id, url_type)
            elif not is_default and not has_default and promote:
                types[url_type] = True
        self.store.put_redirect_url(tx, environment_id, url, types, clock.now())
        if promote:
            self._promote(tx, environment_id, url, before, types)

    def _promote(
        self,
        tx: WriteTx,
        environment_id: str,
        url: str,
        before: dict[str, dict[str, bool]],
        kept: dict[str, bool],
    ) -> None:
        """Types `url` was the default of and no longer is: the oldest other URL of that type
        becomes the default."""
        lost = [t for t, d in before.get(url, {}).items() if d and not kept.get(t)]
        for url_type in lost:
            for other, types in before.items():
                if other != url and url_type in types:
                    types[url_type] = True
                    self.store.put_redirect_url(tx, environment_id, other, types, clock.now())
                    break

    def create(
        self,
        operator: Operator,
        project_slug: str,
        slug: str,
        url: str,
        valid_types: list[dict[str, Any]] | None,
        do_not_promote_defaults: bool,
    ) -> RedirectUrl:
        operator.require("project_config.manage")
        check_url(url)
        types = self._types(valid_types)
        with self.store.transaction() as tx:
            _, environment = self.projects.environment(tx, operator, project_slug, slug)
            before = self._current(tx, environment["id"])
            if url in before:
                raise GatehouseError(
                    Code.DUPLICATE_REDIRECT_URL,
                    f"`{url[:200]}` is already registered; change its types with "
                    "`redirect_urls.update`",
                )
            self._write(tx, environment["id"], url, types, not do_not_promote_defaults, before)
            self.workspace.record(
                tx,
                operator,
                "redirect_url.create",
                url[:256],
                {"types": types},
                scope=environment["id"],
            )
            return self._one(tx, environment["id"], url)

    def _one(self, tx: ReadTx, environment_id: str, url: str) -> RedirectUrl:
        types = self._current(tx, environment_id).get(url)
        if types is None:
            raise NotFound(Kind.REDIRECT_URL, url[:200])
        return RedirectUrl(url, types)

    def get(self, operator: Operator, project_slug: str, slug: str, url: str) -> RedirectUrl:
        operator.require("project_config.view")
        with self.store.read() as tx:
            _, environment = self.projects.environment(tx, operator, project_slug, slug)
            return self._one(tx, environment["id"], url)

    def get_all(self, operator: Operator, project_slug: str, slug: str) -> list[RedirectUrl]:
        operator.require("project_config.view")
        with self.store.read() as tx:
            _, environment = self.projects.environment(tx, operator, project_slug, slug)
            return grouped(self.store.redirect_urls(tx, environment["id"]))

    def update(
        self,
        operator: Operator,
        project_slug: str,
        slug: str,
        url: str,
        valid_types: list[dict[str, Any]] | None,
        do_not_promote_defaults: bool,
    ) -> RedirectUrl:
        operator.require("project_config.manage")
        types = self._types(valid_types)
        with self.store.transaction() as tx:
            _, environment = self.projects.environment(tx, operator, project_slug, slug)
            before = self._current(tx, environment["id"])
            if url not in before:
                raise NotFound(Kind.REDIRECT_URL, url[:200])
            self._write(tx, environment["id"], url, types, not do_not_promote_defaults, before)
            self.workspace.record(
                tx,
                operator,
                "redirect_url.update",
                url[:256],
                {"types": types},
                scope=environment["id"],
            )
            return self._one(tx, environment["id"], url)

    def delete(
        self,
        operator: Operator,
        project_slug: str,
        slug: str,
        url: str,
        do_not_promote_defaults: bool,
    ) -> None:
        operator.require("project_config.manage")
        with self.store.transaction() as tx:
            _, environment = self.projects.environment(tx, operator, project_slug, slug)
            before = self._current(tx, environment["id"])
            if not self.store.delete_redirect_url(tx, environment["id"], url):
                raise NotFound(Kind.REDIRECT_URL, url[:200])
            if not do_not_promote_defaults:
                self._promote(tx, environment["id"], url, before, {})
            self.workspace.record(
                tx, operator, "redirect_url.delete", url[:256], scope=environment["id"]
            )
