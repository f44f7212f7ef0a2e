"""The outbound guard (services/outbound.py): which addresses it refuses, and that a refused URL
is never requested. The end-to-end refusals through the API are in tests/sdk/test_sso_oidc.py."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from gatehouse.services import outbound


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::",
        "::ffff:127.0.0.1",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not outbound._public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert outbound._public(address)


@pytest.fixture
def counted() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server and the paths it was asked for."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            self.send_response(302 if self.path == "/moved" else 200)
            self.send_header("Location", "http://169.254.169.254/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_host_is_never_contacted(counted: tuple[str, list[str]]) -> None:
    base, seen = counted
    for url in (base + "/a", base.replace("127.0.0.1", "localhost") + "/b"):
        with pytest.raises(outbound.Refused):
            outbound.fetch(url, allow_private_networks=False)
    assert seen == []
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http:///nohost"):
        with pytest.raises(outbound.Refused):
            outbound.fetch(url, allow_private_networks=True)


def test_allowed_fetches_follow_no_redirect_and_cap_the_body(
    counted: tuple[str, list[str]],
) -> None:
    base, seen = counted
    answer = outbound.fetch(base + "/moved", allow_private_networks=True)
    assert answer.status == 302  # not followed to the metadata address
    assert outbound.fetch(base + "/x", allow_private_networks=True).body == b"ok"
    with pytest.raises(outbound.Failed):
        outbound.fetch(base + "/x", allow_private_networks=True, max_bytes=1)
    assert seen == ["/moved", "/x", "/x"]
