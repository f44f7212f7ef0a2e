"""Fetches of URLs an operator supplied (SAML metadata, OIDC discovery, JWKS, token and userinfo
endpoints), guarded against server-side request forgery.

Only http(s). By default the host must resolve to public addresses only: loopback, private,
link-local, unspecified, multicast and reserved addresses are refused, every address the name
resolves to is checked, and the connection goes to the checked address (the name is resolved
once, so a second answer from DNS cannot swap in another address); TLS still checks the
certificate against the URL's host name. No redirects are followed, the body is capped and the
whole exchange has one deadline. `allow_private_networks` (the setting
`outbound_allow_private_networks`) lifts the address check, for IdPs on an internal network
and for tests.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_SECONDS = 10.0


class Refused(Exception):
    """The URL may not be fetched (scheme, or an address the guard refuses)."""


class Failed(Exception):
    """The fetch did not give a whole answer (network error, too large, too slow)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: httpx.Headers

    def json(self) -> Any:
        return json.loads(self.body)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or not ip.is_global
    )


def _pinned(url: str) -> tuple[str, str]:
    """(the URL with its host replaced by a checked address, the original host)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Failed(f"`{host}` does not resolve") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise Failed(f"`{host}` does not resolve")
    refused = [a for a in addresses if not _public(a)]
    if refused:
        raise Refused(
            f"`{host}` resolves to a non-public address ({refused[0]}); Gatehouse does not "
            "fetch loopback, private or link-local addresses unless "
            "`outbound_allow_private_networks` is on"
        )
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), host


def fetch(
    url: str,
    *,
    allow_private_networks: bool,
    method: str = "GET",
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    seconds: float = DEFAULT_SECONDS,
) -> Answer:
    """One request to `url`; any status is an Answer (the caller judges it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("must be an http(s) URL")
    target, extensions = url, {}
    sent = dict(headers or {})
    if not allow_private_networks:
        target, host = _pinned(url)
        sent["Host"] = parts.netloc.rsplit("@", 1)[-1]
        extensions = {"sni_hostname": host}
    deadline = time.monotonic() + seconds
    try:
        with httpx.Client(timeout=seconds, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                method, target, data=data, headers=sent, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise Failed(f"answered more than {max_bytes // 1024} KiB")
                    if time.monotonic() > deadline:
                        raise Failed(f"took longer than {seconds:g} seconds")
            finally:
                response.close()
    except httpx.HTTPError as error:
        raise Failed(f"could not be fetched ({type(error).__name__})") from None
    if time.monotonic() > deadline:
        raise Failed(f"took longer than {seconds:g} seconds")
    return Answer(response.status_code, body, response.headers)
