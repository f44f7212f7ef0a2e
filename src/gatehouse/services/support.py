"""Support and directory actions for dashboard users (placeholder: being built)."""

from __future__ import annotations

from typing import Any

from gatehouse.services.mail import Mailer
from gatehouse.services.workspace import Workspace


class Support:
    def __init__(self, workspace: Workspace, gatehouse: Any, mailer: Mailer) -> None:
        self.workspace = workspace
        self.gatehouse = gatehouse
        self.mailer = mailer
