"""The application of one worker process of `gatehouse serve --workers N`.

uvicorn starts each worker from an import string, so the parent passes the database URL and the
settings through the environment it gives its children; every worker is a node of its own (own
caches, own change feed), exactly like a node on another machine.
"""

from __future__ import annotations

import dataclasses
import json
import os

from starlette.applications import Starlette

from gatehouse.api.app import create_app
from gatehouse.config import Settings
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store

DATABASE_URL = "GATEHOUSE_WORKER_DATABASE_URL"
SETTINGS = "GATEHOUSE_WORKER_SETTINGS"


def prepare(database_url: str, settings: Settings) -> None:
    """Called by the parent before starting the workers (migrations already applied)."""
    os.environ[DATABASE_URL] = database_url
    os.environ[SETTINGS] = json.dumps(dataclasses.asdict(settings))


def create_from_environment() -> Starlette:
    settings = Settings(**json.loads(os.environ[SETTINGS]))
    store = open_store(os.environ[DATABASE_URL], apply_migrations=False)
    return create_app(Gatehouse(store, settings))
