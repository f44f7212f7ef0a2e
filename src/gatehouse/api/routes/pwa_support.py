"""Support and directory actions under `/pwa/v3/projects/.../environments/...` (placeholder)."""

from starlette.routing import Route

routes: list[Route] = []
