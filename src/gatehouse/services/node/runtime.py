"""The running Gatehouse: settings, the store, and the in-memory caches every service shares.

A policy is parsed and compiled only when its version changes. On a serving node (`start()`),
the change feed keeps `cache` (services/node/cache.py) fresh, so warm requests never read the database;
without a running feed (CLI commands, library use) every request reads what it needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from gatehouse import metrics
from gatehouse.config import Settings
from gatehouse.policy import (
    CompiledPolicy,
    compile_policy,
    org_policy_from_wire,
    policy_from_wire,
)
from gatehouse.services import sms
from gatehouse.services.context import Environment
from gatehouse.services.node.cache import NodeCache
from gatehouse.services.security import credentials
from gatehouse.services.security.sealing import Sealer
from gatehouse.services.security.throttle import SendLimits, SignInGuard
from gatehouse.storage import Change, Store
from gatehouse.storage.interface import ReadTx
from gatehouse.storage.rows import EnvironmentRow, OrganizationRow

log = logging.getLogger(__name__)
# Published to subscribers when the feed may have missed changes: drop every cached entry.
RESET = Change("", "reset", "")

__all__ = ["RESET", "Change", "Runtime"]


@dataclass
class _PolicyCache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_environment: dict[str, tuple[int, CompiledPolicy]] = field(default_factory=dict)
    by_organization: dict[tuple[str, int, str, str], CompiledPolicy] = field(default_factory=dict)


class Runtime:
    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.passwords = credentials.Passwords(
            self.settings.argon2_time_cost,
            self.settings.argon2_memory_kib,
            self.settings.argon2_parallelism,
            concurrency=self.settings.password_hash_concurrency,
            wait_seconds=self.settings.password_hash_wait_seconds,
        )
        self.sealer = Sealer.from_settings(self.settings)
        # One per node, shared by every service that sends a message (services/security/throttle.py).
        self.send_limits = SendLimits(
            self.settings.emails_per_address_per_hour, self.settings.emails_per_client_per_hour
        )
        # Texts (MFA codes) per phone number; per client, the email limit's rate.
        self.sms_limits = SendLimits(
            self.settings.texts_per_number_per_hour, self.settings.emails_per_client_per_hour
        )
        self.sms_sender = sms.sender_for(self.settings)
        self._compiled_policies = _PolicyCache()
        self.cache = NodeCache(self.settings.cache_max_sessions, self.settings.cache_ttl_seconds)
        store.on_commit(self.cache.apply)
        self._subscribers: list[Callable[[Change], None]] = []
        self._feed_stop = threading.Event()
        self._feed: threading.Thread | None = None
        # The feed's history, for gatehouse.metrics: connections made, changes delivered.
        self.feed_connections = 0
        self.feed_events = 0

    def sign_in_guard(self) -> SignInGuard:
        """A new set of password sign-in limits (each kind of account has its own)."""
        s = self.settings
        return SignInGuard(
            s.sign_in_failures_per_client,
            s.sign_in_failures_per_account_client,
            s.sign_in_failures_per_account,
        )

    # -- the change feed ---------------------------------------------------------------------

    def start(self) -> None:
        """Follow the change feed in a background thread, which makes `cache` live."""
        if self._feed is not None:
            return
        self._feed_stop.clear()
        self._feed = threading.Thread(target=self._follow, name="gatehouse-feed", daemon=True)
        self._feed.start()

    def stop(self) -> None:
        self._feed_stop.set()
        if self._feed is not None:
            self._feed.join(timeout=5)
            self._feed = None
        self.cache.reset()

    def _follow(self) -> None:
        self.store.listen_changes(
            self._changed, self._reset, self._ready, self._feed_stop, metrics.FEED_LAG.observe
        )

    @property
    def feed_connected(self) -> bool:
        """Whether the change feed is connected (and so the caches are live)."""
        return self._feed is not None and self.cache.live

    @property
    def feed_reconnects(self) -> int:
        return max(self.feed_connections - 1, 0)

    def _ready(self) -> None:
        self.feed_connections += 1
        self.cache.feed_ready()

    def _changed(self, change: Change) -> None:
        self.feed_events += 1
        self.cache.apply([change])
        self._publish(change)

    def _reset(self) -> None:
        self.cache.reset()
        self._publish(RESET)

    def _publish(self, change: Change) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:  # one broken subscriber must not stop the feed
                log.exception("change subscriber failed")

    def subscribe(self, subscriber: Callable[[Change], None]) -> Callable[[], None]:
        """Call `subscriber` (from the feed thread) with every change; returns the unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def environment_from_row(self, row: EnvironmentRow) -> Environment:
        """An environment from a full row (policy document included)."""
        version = row["policy_version"]
        compiled = self._compiled(row["id"], version)
        if compiled is None:
            compiled = compile_policy(policy_from_wire(row["policy"]))
            with self._compiled_policies.lock:
                self._compiled_policies.by_environment[row["id"]] = (version, compiled)
        return Environment(row["id"], row["project_id"], row["kind"], version, compiled)

    def _compiled(self, environment_id: str, version: int) -> CompiledPolicy | None:
        cached = self._compiled_policies.by_environment.get(environment_id)
        return cached[1] if cached is not None and cached[0] == version else None

    def load_environment(self, tx: ReadTx, environment_id: str) -> Environment | None:
        """Reads the policy document only when the cached compiled policy is out of date."""
        head = self.store.environment_head(tx, environment_id)
        if head is None:
            return None
        compiled = self._compiled(head["id"], head["policy_version"])
        if compiled is None:
            row = self.store.get_environment(tx, environment_id)
            assert row is not None
            return self.environment_from_row(row)
        return Environment(
            head["id"], head["project_id"], head["kind"], head["policy_version"], compiled
        )

    def compiled_for_org(self, environment: Environment, org: OrganizationRow) -> CompiledPolicy:
        """The project policy with the organization's custom roles layered on top."""
        if not org["custom_roles"]:
            return environment.compiled
        key = (environment.id, environment.policy_version, org["id"], org["updated_at"].isoformat())
        compiled = self._compiled_policies.by_organization.get(key)
        if compiled is None:
            extra = org_policy_from_wire({"roles": org["custom_roles"]}).roles
            compiled = environment.compiled.with_roles(extra)
            with self._compiled_policies.lock:
                if len(self._compiled_policies.by_organization) > 10_000:
                    self._compiled_policies.by_organization.clear()
                self._compiled_policies.by_organization[key] = compiled
        return compiled
