"""`/pwa/v3/auth...` (Gatehouse extension): dashboard sign-in (placeholder: being built)."""

from starlette.routing import Route

routes: list[Route] = []
