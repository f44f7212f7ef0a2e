"""Signing in to the dashboard (placeholder: being built)."""

from __future__ import annotations

from gatehouse.services.mail import Mailer
from gatehouse.services.workspace import Workspace


class DashboardAuth:
    def __init__(self, workspace: Workspace, mailer: Mailer) -> None:
        self.workspace = workspace
        self.mailer = mailer
