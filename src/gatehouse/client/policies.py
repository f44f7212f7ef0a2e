"""The client's policy cache: the project policy with its version, and each organization's
compiled policy (its custom roles layered on the project's) in a bounded LRU. No I/O and no
waiting here (each client's lifecycle module waits for a version), and thread-safe, so the sync
client's threads, its push thread and the async client share one design. Ages are read from the
`now` it is given (a monotonic clock by default).

Freshness (docs/CLIENT.md has the bounds):

- the project policy is only ever replaced by a newer version, and replacing it drops every
  organization entry, since each was compiled on the old one;
- an organization entry is dropped by a push event naming it, by a `reset`, and when the push
  stream (re)connects (what happened while it was down is unknown);
- while no push stream is connected, an entry older than `poll_seconds` is fetched again on its
  next use: organization changes are only pushed, never polled for, so age is the bound then;
- a fetch that began before an invalidation may answer the call that made it, but is not kept:
  every invalidation bumps `epoch`, and `store_org` keeps an entry only if the epoch it was
  fetched under is still current. Otherwise a change pushed mid-fetch could be cached over.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gatehouse.policy import CompiledPolicy, Policy, Role, compile_policy

MAX_ORGS = 1024


@dataclass(frozen=True, slots=True)
class ProjectPolicy:
    version: int
    compiled: CompiledPolicy


@dataclass(frozen=True, slots=True)
class _OrgEntry:
    compiled: CompiledPolicy
    project: ProjectPolicy  # what it was compiled on
    fetched_at: float
    stream: int  # the push stream it was fetched under; 0: none was connected


class PolicyCache:
    def __init__(
        self,
        poll_seconds: float,
        max_orgs: int = MAX_ORGS,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.poll_seconds = poll_seconds
        self.max_orgs = max_orgs
        self._now = now
        self._lock = threading.Lock()
        self._project: ProjectPolicy | None = None
        self._orgs: OrderedDict[str, _OrgEntry] = OrderedDict()
        self._epoch = 0
        self._stream = 0  # the connected push stream's number; 0 while none is
        self._streams = 0

    # -- the project policy ------------------------------------------------------------------

    @property
    def project(self) -> ProjectPolicy | None:
        return self._project

    @property
    def version(self) -> int | None:
        project = self._project
        return project.version if project is not None else None

    def store_project(self, version: int, policy: Policy) -> bool:
        """Keep `policy` if it is newer than the cached one; True if it was kept."""
        current = self._project
        if current is not None and version <= current.version:
            return False
        compiled = compile_policy(policy)  # outside the lock: a large policy takes a while
        with self._lock:
            current = self._project
            if current is not None and version <= current.version:
                return False
            self._project = ProjectPolicy(version, compiled)
            self._orgs.clear()
            self._epoch += 1
        return True

    def has_version(self, version: int) -> bool:
        """Whether a project policy is cached and its version is at least `version`."""
        project = self._project
        return project is not None and project.version >= version

    # -- organizations -----------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self._epoch

    def org(self, organization_id: str, project: ProjectPolicy) -> CompiledPolicy | None:
        """The organization's compiled policy on `project`, if cached and still fresh."""
        with self._lock:
            entry = self._orgs.get(organization_id)
            if entry is None:
                return None
            pushed = self._stream != 0 and entry.stream == self._stream
            fresh = pushed or self._now() - entry.fetched_at < self.poll_seconds
            if entry.project is not project or not fresh:
                del self._orgs[organization_id]
                return None
            self._orgs.move_to_end(organization_id)
            return entry.compiled

    def store_org(
        self, organization_id: str, roles: tuple[Role, ...], project: ProjectPolicy, epoch: int
    ) -> CompiledPolicy:
        """Compile the organization's roles on `project`; keep the result only if nothing was
        invalidated since `epoch` was read (before the fetch began)."""
        compiled = project.compiled.with_roles(roles)
        with self._lock:
            if epoch == self._epoch and project is self._project:
                self._orgs[organization_id] = _OrgEntry(
                    compiled, project, self._now(), self._stream
                )
                self._orgs.move_to_end(organization_id)
                while len(self._orgs) > self.max_orgs:
                    self._orgs.popitem(last=False)
        return compiled

    def drop_org(self, organization_id: str) -> None:
        with self._lock:
            self._orgs.pop(organization_id, None)
            self._epoch += 1

    def drop_orgs(self) -> None:
        with self._lock:
            self._orgs.clear()
            self._epoch += 1

    def cached_orgs(self) -> int:
        return len(self._orgs)

    # -- the push stream ---------------------------------------------------------------------

    @property
    def pushed(self) -> bool:
        """Whether a push stream is connected (then organization entries do not age out)."""
        return self._stream != 0

    def stream_connected(self) -> None:
        """A push stream is up: what it did not see may be cached, so organizations go."""
        with self._lock:
            self._streams += 1
            self._stream = self._streams
            self._orgs.clear()
            self._epoch += 1

    def stream_lost(self) -> None:
        with self._lock:
            self._stream = 0
