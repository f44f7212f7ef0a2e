"""The dashboard: server-rendered HTML pages under `/dashboard/`, beside the API. Pages call the
workspace services, never storage; what a page and each of its controls shows is decided by the one
permission table in `gatehouse.policy.dashboard`, and the server checks every action again."""
