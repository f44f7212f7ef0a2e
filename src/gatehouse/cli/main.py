"""The `gatehouse` command: serve, init, admin add, key create / list / revoke, secret create,
policy export / apply, config show, dev-cert, bench.

Importing this module stays cheap, so `gatehouse --help` is quick: each command imports the
services, storage and web code it needs. Commands reach the database through the services only,
and only `init` and `serve` may create one. Settings come from `gatehouse.config` (defaults,
config file, `GATEHOUSE_*` variables, flags); `serve` and `config show` take a flag for every
setting, the others `--database-url`.

An expected failure is one `error: ...` line on stderr (a `{"error": {...}}` object on stdout
with `--json`) and a non-zero exit status; `gatehouse --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import sys

# Each command module registers its commands on `app` when imported, in this order (`--help`'s).
# isort: off
from gatehouse.cli import server, keys, policy, benchmarks, backup  # noqa: F401
from gatehouse.cli.shell import app

# isort: on

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])
