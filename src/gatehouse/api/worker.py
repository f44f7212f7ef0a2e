"""The application of one worker process of `gatehouse serve --workers N`.

uvicorn starts each worker from an import string, so the parent passes its settings (the database
URL among them) through the environment it gives its children, serialised and read back by
`gatehouse.config`, through the same checks as every other source; every worker is a node of its
own (own caches, own change feed), exactly like a node on another machine.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from gatehouse import config
from gatehouse.api.app import create_app
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store

SETTINGS = "GATEHOUSE_WORKER_SETTINGS"


def prepare(settings: config.Settings) -> None:
    """Called by the parent before starting the workers (migrations already applied)."""
    os.environ[SETTINGS] = config.to_json(settings)


def create_from_environment() -> Starlette:
    settings = config.from_json(os.environ[SETTINGS], where=SETTINGS)
    store = open_store(
        settings.database_url,
        apply_migrations=False,
        busy_timeout_seconds=settings.database_busy_timeout_seconds,
    )
    return create_app(Gatehouse(store, settings))
