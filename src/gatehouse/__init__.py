"""Gatehouse: a self-hosted, Stytch-compatible B2B authorization service."""

__version__ = "0.1.0"
