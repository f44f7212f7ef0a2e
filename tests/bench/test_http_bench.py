"""The HTTP bench measures what it claims: wrk's report is read right (a real report, made here
against a tiny server that counts what it got), the POST script sends the body and headers, and a
short run against a real `gatehouse serve` subprocess measures successful requests only."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from gatehouse.bench import http as http_bench
from gatehouse.bench import load
from gatehouse.bench.report import SectionSkipped
from gatehouse.bench.suite import BenchOptions

# A benchmark: out of the default run (scripts/test), in .ci/run.
pytestmark = pytest.mark.slow

WRK = load.find_wrk()
needs_wrk = pytest.mark.needs_wrk

# A report as wrk 4.1 prints it (microsecond, millisecond and second units; error lines).
SAMPLE = """\
Running 10s test @ http://127.0.0.1:8080/v1/b2b/sessions/authenticate
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   565.70ms  120.19ms   1.00s    77.07%
    Req/Sec    45.97     24.62   100.00     63.64%
  Latency Distribution
     50%  826.00us
     75%  610.06ms
     90%  772.43ms
     99%    1.21s
  1570 requests in 10.02s, 748.51KB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 12
Requests/sec:    156.69
Transfer/sec:     74.70KB
"""


def test_a_sample_report_is_parsed_with_its_units_and_errors() -> None:
    result = load.parse_wrk(SAMPLE)
    assert result.requests == 1570
    assert result.seconds == pytest.approx(10.02)
    assert result.requests_per_second == pytest.approx(156.69)
    assert result.p50_ms == pytest.approx(0.826)
    assert result.p99_ms == pytest.approx(1210.0)
    assert (result.non_2xx, result.socket_errors, result.errors) == (12, 7, 19)


def test_a_report_without_its_latency_distribution_is_refused() -> None:
    without = "\n".join(line for line in SAMPLE.splitlines() if "%  " not in line)
    with pytest.raises(ValueError, match="wrk output"):
        load.parse_wrk(without)


class _Counting(http.server.BaseHTTPRequestHandler):
    """200 on /ok (GET) and /echo (POST, recording what came), 404 anywhere else."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int) -> None:
        with self.server.lock:
            self.server.answered[status] = self.server.answered.get(status, 0) + 1
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(200 if self.path == "/ok" else 404)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.posted = (body, dict(self.headers))
        self._reply(200 if self.path == "/echo" else 404)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Counting)
        self.lock = threading.Lock()
        self.answered: dict[int, int] = {}
        self.posted: tuple[bytes, dict[str, str]] = (b"", {})

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # wrk drops its connections when the run ends; that is not a failure


@contextmanager
def tiny_server() -> Iterator[tuple[_Server, str]]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@needs_wrk
def test_a_real_report_matches_what_the_server_answered() -> None:
    with tiny_server() as (server, url):
        ok, report = load.run_wrk(url + "/ok", duration_s=1, threads=1, connections=2, wrk=WRK)
        assert "Latency Distribution" in report
        missing, _ = load.run_wrk(url + "/missing", duration_s=1, threads=1, connections=2, wrk=WRK)
    assert ok.requests > 0 and ok.errors == 0
    assert 0 < ok.p50_ms <= ok.p99_ms
    # Requests cut off when the run ends are answered but not counted by wrk.
    assert ok.requests <= server.answered[200] <= ok.requests + 2
    assert missing.requests > 0 and missing.non_2xx == missing.requests
    assert missing.requests <= server.answered[404] <= missing.requests + 2
    assert ok.requests_per_second == pytest.approx(ok.requests / ok.seconds, rel=0.02)


@needs_wrk
def test_the_post_script_sends_the_body_and_the_headers() -> None:
    body = json.dumps({"checks": [{"resource_id": "r", "action": "a"}] * 100}).encode()
    with tiny_server() as (server, url):
        result, _ = load.run_wrk(
            url + "/echo",
            duration_s=1,
            threads=1,
            connections=1,
            headers={"Authorization": "Basic eDp5", "Content-Type": "application/json"},
            body=body,
            wrk=WRK,
        )
    sent, headers = server.posted
    assert result.requests > 0 and result.errors == 0
    assert sent == body
    assert headers["Authorization"] == "Basic eDp5"
    assert headers["Content-Type"] == "application/json"


@needs_wrk
def test_a_short_run_against_a_real_server_measures_only_successes() -> None:
    assert WRK is not None
    [table] = http_bench.measure(WRK, duration_s=1, scaling=False)
    assert table.columns == http_bench.COLUMNS
    by_name = {row[0]: row for row in table.rows}
    assert set(by_name) == {
        http_bench.HEALTHZ,
        http_bench.AUTHENTICATE,
        http_bench.BATCH,
        http_bench.PACED,
    }
    measured = [by_name[http_bench.HEALTHZ], by_name[http_bench.AUTHENTICATE]]
    measured.append(by_name[http_bench.PACED])
    batch = by_name[http_bench.BATCH]
    if not batch[1].startswith("skipped"):  # the batch endpoint may not exist in this build
        measured.append(batch)
    for row in measured:
        assert float(row[1].replace(",", "")) > 0, row
        assert row[6] == "0", row
    assert not any(note.startswith("WARNING") for note in table.notes), table.notes


def test_without_wrk_the_section_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "find_wrk", lambda: None)
    with pytest.raises(SectionSkipped, match="apt-get install wrk"):
        http_bench.run(BenchOptions(quick=True))
