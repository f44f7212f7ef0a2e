"""The Cerbos policy decision point as a bench peer: its server binary (from the npm package
`cerbos`, pinned here), a Gatehouse policy in its terms, and a running server on loopback.

The translation keeps Gatehouse's semantics (bench/peers.py states them): one resource policy per
resource anyone is granted, a rule per role listing the actions it has there, `*` as written
(Cerbos reads it as any action, as Gatehouse does); a resource nobody is granted gets no policy,
which Cerbos denies, as Gatehouse denies an unknown resource.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gatehouse.bench import load
from gatehouse.bench.peers import grants
from gatehouse.policy import WILDCARD, Policy

CERBOS_VERSION = "0.51.0"
PEERS_DIR_ENV = "GATEHOUSE_BENCH_PEERS"  # where the npm packages are installed
STARTUP_SECONDS = 30.0
MAX_CHECKS = 100  # resources per CheckResources request, and actions per resource (default 50)


# --- the Cerbos binary --------------------------------------------------------------------------


def peers_dir() -> Path:
    """Where `npm install --prefix` puts the bench's npm peers (a cache: safe to delete)."""
    if os.environ.get(PEERS_DIR_ENV):
        return Path(os.environ[PEERS_DIR_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "gatehouse" / "bench-peers"


def install_command() -> str:
    return f"npm install --prefix {shlex.quote(str(peers_dir()))} --no-save cerbos@{CERBOS_VERSION}"


def find_binary() -> Path | None:
    """The server binary of the pinned `cerbos` npm package, if installed in `peers_dir()`."""
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    package = peers_dir() / "node_modules" / "@cerbos" / f"cerbos-{sys.platform}-{arch}"
    try:
        manifest = json.loads((package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    binary = package / str(manifest.get("main", ""))
    if manifest.get("version") != CERBOS_VERSION or not os.access(binary, os.X_OK):
        return None
    return binary


# --- the policy, in Cerbos terms ----------------------------------------------------------------


def policies_of(policy: Policy) -> dict[str, dict[str, Any]]:
    """One resource policy per granted resource (file name → document): a rule per role."""
    actions: dict[str, dict[str, list[str]]] = {}
    for role, resource, action in grants(policy):
        if ":" in action or (WILDCARD in action and action != WILDCARD):
            # Cerbos reads `:` and `*` inside an action as a pattern; Gatehouse as a plain name.
            raise ValueError(f"action `{action}` has no equivalent in Cerbos")
        listed = actions.setdefault(resource, {}).setdefault(role, [])
        if action not in listed:
            listed.append(action)
    return {
        f"resource{i}.yaml": {
            "apiVersion": "api.cerbos.dev/v1",
            "resourcePolicy": {
                "version": "default",
                "resource": resource,
                "rules": [
                    {"actions": listed, "effect": "EFFECT_ALLOW", "roles": [role]}
                    for role, listed in by_role.items()
                ],
            },
        }
        for i, (resource, by_role) in enumerate(sorted(actions.items()))
    }


def write_policies(policy: Policy, directory: Path) -> None:
    """The policies as files of Cerbos's disk store (JSON is YAML, so no YAML writer is needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, document in policies_of(policy).items():
        (directory / name).write_text(json.dumps(document, indent=1), encoding="utf-8")


def check_request(principal: str, roles: Sequence[str], checks: Sequence[tuple[str, str]]) -> Any:
    """A CheckResources body: one resource entry (id = its index) of one action per check."""
    return {
        "principal": {"id": principal, "roles": list(roles)},
        "resources": [
            {"resource": {"kind": resource, "id": str(i)}, "actions": [action]}
            for i, (resource, action) in enumerate(checks)
        ],
    }


def verdicts(answer: Any, checks: Sequence[tuple[str, str]]) -> list[bool]:
    """The verdicts of a CheckResources answer, in the order of `checks` (matched by id)."""
    by_id = {r["resource"]["id"]: r["actions"] for r in answer["results"]}
    return [by_id[str(i)][action] == "EFFECT_ALLOW" for i, (_, action) in enumerate(checks)]


# --- the Cerbos server --------------------------------------------------------------------------


@contextmanager
def running(binary: Path, policy: Policy, directory: Path) -> Iterator[str]:
    """`cerbos server` on a free loopback port (gRPC on loopback too), the policy on disk, no
    telemetry; stopped (SIGTERM, then SIGKILL) on exit. Yields the HTTP base URL."""
    policies = directory / "cerbos-policies"
    write_policies(policy, policies)
    http_port, grpc_port = load.free_port(), load.free_port()
    config = {
        "server": {
            "httpListenAddr": f"127.0.0.1:{http_port}",
            "grpcListenAddr": f"127.0.0.1:{grpc_port}",
            "requestLimits": {
                "maxActionsPerResource": MAX_CHECKS,
                "maxResourcesPerRequest": MAX_CHECKS,
            },
        },
        "storage": {
            "driver": "disk",
            "disk": {"directory": str(policies), "watchForChanges": False},
        },
    }
    config_file = directory / "cerbos.yaml"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    log = directory / f"cerbos-{http_port}.log"
    url = f"http://127.0.0.1:{http_port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "server", f"--config={config_file}", "--log-level=warn"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "CERBOS_NO_TELEMETRY": "1"},
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"cerbos exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if load.http_json("GET", url + "/_cerbos/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cerbos did not answer within {STARTUP_SECONDS:.0f} s")
            time.sleep(0.1)
        yield url
    finally:
        load.stop_process(process)
