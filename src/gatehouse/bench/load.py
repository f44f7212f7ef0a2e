"""Shared helpers for the load benchmarks: a real `gatehouse serve` subprocess over a throwaway
database, a member session made through the public API, and wrk runs with their output parsed
(bulk seeding of large sizes lives in `seed.py`).

The server runs as a separate process (as operators run it) so that the load generator, the
measuring code and the server never share an interpreter or a GIL.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

LUA_POST = Path(__file__).parent / "wrk" / "post.lua"
LUA_PACED = Path(__file__).parent / "wrk" / "paced.lua"
STARTUP_SECONDS = 30.0
PASSWORD = "bench-Harbor-lantern-73"

# -- the gatehouse command -------------------------------------------------------------------


def gatehouse_command() -> list[str]:
    """The `gatehouse` console script of this interpreter's environment, or an equivalent."""
    script = Path(sys.executable).with_name("gatehouse")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from gatehouse.cli.main import main; main()"]


def init_database(database_url: str) -> dict[str, Any]:
    """`gatehouse init --json` on a fresh database: the test environment's id and secret."""
    done = subprocess.run(
        [
            *gatehouse_command(),
            "init",
            "--json",
            "--admin-email",
            "bench@example.com",
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gatehouse init failed: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(done.stdout)["project"]["environments"]["test"]  # type: ignore[no-any-return]


def serve_supports_workers() -> bool:
    """Whether this build's `gatehouse serve` takes `--workers` (asked, not assumed)."""
    done = subprocess.run(
        [*gatehouse_command(), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    return "--workers" in done.stdout


# -- a server subprocess ---------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on now (another process could take it; unlikely here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path


@contextmanager
def running_server(
    database_url: str, log_dir: Path, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`gatehouse serve` on a free loopback port (`env`: variables added to its environment);
    stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = log_dir / f"serve-{port}.log"
    command = [
        *gatehouse_command(),
        "serve",
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--log-level",
        "warning",
    ]
    if workers != 1:
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        # A session of its own, so stopping it reaches the worker processes too.
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    try:
        _wait_until_up(url, process, log)
        yield Server(url, process.pid, log)
    finally:
        stop_process(process)


@contextmanager
def running_granian(
    database_url: str, log_dir: Path, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """The same application under granian (the server comparison of the http section): each
    worker made by `api/worker.py` from the settings `gatehouse serve` would pass, over a
    database already initialised. Stopped like `running_server`."""
    from gatehouse import config
    from gatehouse.api import worker

    granian = Path(sys.executable).with_name("granian")
    if not granian.is_file():
        raise FileNotFoundError("granian (pip install -e .[bench])")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = log_dir / f"granian-{port}.log"
    environ = {**os.environ, **(env or {}), "GATEHOUSE_DATABASE_URL": database_url}
    settings = config.load(environ=environ).settings
    environ[worker.SETTINGS] = config.to_json(settings)
    command = [
        str(granian),
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "gatehouse.api.worker:create_from_environment",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=environ
        )
    try:
        _wait_until_up(url, process, log)
        yield Server(url, process.pid, log)
    finally:
        stop_process(process)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gatehouse serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            status, _ = http_json("GET", f"{url}/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gatehouse serve did not answer within {STARTUP_SECONDS:.0f} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session: TERM to its group, KILL after 15 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass


# -- the public API, with the standard library only ------------------------------------------


def basic_auth(project_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{project_id}:{secret}".encode()).decode()


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request; the status and the decoded JSON answer (error statuses included)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"null")
        except ValueError:
            return error.code, raw.decode(errors="replace")


@dataclass(frozen=True)
class MemberSession:
    organization_id: str
    member_id: str
    session_token: str


def signed_in_member(url: str, auth: str, roles: list[str]) -> MemberSession:
    """An organization and a member with `roles`, signed in with a password: the way an app's
    users get sessions (imported bcrypt hash, then `passwords/authenticate`)."""
    headers = {"Authorization": auth}

    def ok(path: str, body: dict[str, Any]) -> Any:
        status, answer = http_json("POST", url + path, body, headers)
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {answer}")
        return answer

    org = ok("/v1/b2b/organizations", {"organization_name": "Bench org"})
    org_id = org["organization"]["organization_id"]
    email = "bench-member@example.com"
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    migrated = ok(
        "/v1/b2b/passwords/migrate",
        {
            "email_address": email,
            "hash": password_hash,
            "hash_type": "bcrypt",
            "organization_id": org_id,
            "roles": roles,
        },
    )
    session = ok(
        "/v1/b2b/passwords/authenticate",
        {
            "organization_id": org_id,
            "email_address": email,
            "password": PASSWORD,
            "session_duration_minutes": 24 * 60,
        },
    )
    return MemberSession(org_id, migrated["member_id"], session["session_token"])


# -- wrk -------------------------------------------------------------------------------------


def find_wrk() -> str | None:
    return shutil.which("wrk") or ("/usr/bin/wrk" if os.access("/usr/bin/wrk", os.X_OK) else None)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # wrk counts every status above 399 here
    socket_errors: int  # connect + read + write + timeout

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def combined(results: list[WrkResult]) -> WrkResult:
    """Several runs of one row as one: requests and errors summed, the rate over their time
    together, p50 and p99 the median of the runs' (wrk reports no histogram to merge)."""
    if len(results) == 1:
        return results[0]

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2

    requests = sum(r.requests for r in results)
    seconds = sum(r.seconds for r in results)
    return WrkResult(
        requests=requests,
        seconds=seconds,
        requests_per_second=requests / seconds if seconds else 0.0,
        p50_ms=median([r.p50_ms for r in results]),
        p99_ms=median([r.p99_ms for r in results]),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
    )


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_NUMBER = r"(\d+(?:\.\d+)?)"
_TIME = _NUMBER + r"(us|ms|s|m|h)"


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """The figures of one `wrk --latency` run, from its standard text report."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output has no line matching {pattern!r}:\n{output}")
        return match

    total = find(r"^\s*(\d+) requests in " + _TIME)
    rate = find(r"^Requests/sec:\s+" + _NUMBER)
    p50 = find(r"^\s*50(?:\.0+)?%\s+" + _TIME + r"\s*$")
    p99 = find(r"^\s*99(?:\.0+)?%\s+" + _TIME + r"\s*$")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(total.group(1)),
        seconds=_ms(total.group(2), total.group(3)) / 1000.0,
        requests_per_second=float(rate.group(1)),
        p50_ms=_ms(p50.group(1), p50.group(2)),
        p99_ms=_ms(p99.group(1), p99.group(2)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def run_wrk(
    url: str,
    *,
    duration_s: float,
    threads: int = 2,
    connections: int = 50,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    wrk: str | None = None,
    rate: float | None = None,
) -> tuple[WrkResult, str]:
    """One wrk run (a POST of `body` when given, else a GET); the parsed figures and raw report.
    With `rate` (a POST only), requests are paced to that many per second in all
    (`wrk/paced.lua`) instead of as fast as the server answers."""
    binary = wrk or find_wrk()
    if binary is None:
        raise FileNotFoundError("wrk")
    command = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="gatehouse-wrk-") as tmp:
        if body is not None:
            body_file = Path(tmp) / "body"
            body_file.write_bytes(body)
            if rate is not None:
                per_thread = f"{rate / threads:.3f}"
                command += ["-s", str(LUA_PACED), url, "--", str(body_file), per_thread]
            else:
                command += ["-s", str(LUA_POST), url, "--", str(body_file)]
        else:
            command.append(url)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout), done.stdout
