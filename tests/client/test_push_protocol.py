"""The client's sans-I/O parts, driven directly: the SSE decoder, what each pushed event does to
the policy cache, the cache's freshness rules and bounds, waiting for a version and the
reconnect backoff, with time on a fake clock. The tests over a real server (test_freshness.py)
show the same rules end to end; these pin the edges."""

from __future__ import annotations

import itertools
import threading

from gatehouse.client._lifecycle_sync import Worker
from gatehouse.client.policies import PolicyCache
from gatehouse.client.push import (
    BACKOFF_FIRST_SECONDS,
    BACKOFF_MAX_SECONDS,
    Backoff,
    Event,
    SseDecoder,
    apply,
)
from gatehouse.policy import Permission, Role, default_policy
from tests.client.fake_time import FakeClock

EDITOR = Role("editor", "edits", (Permission("stytch.member", ("search",)),))


def decode(text: str) -> list[Event]:
    decoder = SseDecoder()
    events = [decoder.line(line) for line in text.splitlines()]
    return [e for e in events if e is not None]


def test_the_decoder_reads_the_servers_events() -> None:
    stream = (
        'event: ready\ndata: {"policy_version": 7}\n\n'
        ": ping\n\n"
        'event: policy\r\ndata: {"policy_version": 8}\r\n\r\n'
        'event: organization_policy\ndata:{"organization_id": "organization-test-1"}\n\n'
        "event: reset\ndata: {}\n\n"
    )
    assert decode(stream) == [
        Event("ready", {"policy_version": 7}),
        Event("policy", {"policy_version": 8}),
        Event("organization_policy", {"organization_id": "organization-test-1"}),
        Event("reset", {}),
    ]


def test_the_decoder_skips_what_it_cannot_use() -> None:
    stream = (
        "event: policy\ndata: not json\n\n"
        "event: policy\ndata: [1, 2]\n\n"
        'event: future_event\nid: 3\nretry: 10\ndata: {"x": 1}\n\n'
        "event: lonely\n\n"
        'data: {"a":\ndata: 1}\n\n'
    )
    assert decode(stream) == [Event("future_event", {"x": 1}), Event("message", {"a": 1})]


def cache_with_org(org_id: str = "org-1") -> PolicyCache:
    cache = PolicyCache(poll_seconds=3600)
    cache.store_project(3, default_policy())
    project = cache.project
    assert project is not None
    cache.store_org(org_id, (EDITOR,), project, cache.epoch)
    return cache


def test_ready_drops_organizations_and_asks_for_a_differing_version() -> None:
    cache = cache_with_org()
    assert apply(cache, Event("ready", {"policy_version": 3})) is False
    assert cache.cached_orgs() == 0 and cache.pushed
    assert apply(cache, Event("ready", {"policy_version": 4})) is True


def test_policy_events_ask_for_newer_versions_only() -> None:
    cache = cache_with_org()
    assert apply(cache, Event("policy", {"policy_version": 3})) is False
    assert apply(cache, Event("policy", {"policy_version": 2})) is False
    assert apply(cache, Event("policy", {"policy_version": 4})) is True
    assert apply(cache, Event("policy", {})) is True  # no version: ask rather than guess
    assert cache.cached_orgs() == 1


def test_organization_and_reset_events_drop_organizations() -> None:
    cache = cache_with_org()
    project = cache.project
    assert project is not None
    cache.store_org("org-2", (), project, cache.epoch)
    assert apply(cache, Event("organization_policy", {"organization_id": "org-1"})) is False
    assert cache.org("org-1", project) is None and cache.org("org-2", project) is not None
    assert apply(cache, Event("reset", {})) is True
    assert cache.cached_orgs() == 0
    assert apply(cache, Event("something_new", {})) is False


def test_a_fetch_that_raced_an_invalidation_is_used_but_not_kept() -> None:
    cache = PolicyCache(poll_seconds=3600)
    cache.store_project(1, default_policy())
    project = cache.project
    assert project is not None
    epoch = cache.epoch  # read before the fetch
    cache.drop_org("org-1")  # a push arrives mid-fetch
    compiled = cache.store_org("org-1", (EDITOR,), project, epoch)
    assert compiled.check(frozenset({"editor"}), "stytch.member", "search")
    assert cache.org("org-1", project) is None


def test_a_new_project_policy_drops_organizations_and_old_versions_are_ignored() -> None:
    cache = cache_with_org()
    old = cache.project
    assert cache.store_project(2, default_policy()) is False
    assert cache.store_project(4, default_policy()) is True
    assert old is not None and cache.org("org-1", old) is None
    assert cache.version == 4 and cache.cached_orgs() == 0
    assert cache.has_version(4) and not cache.has_version(5)


def test_waiting_for_a_version_ends_when_it_is_stored_or_when_the_time_is_up() -> None:
    clock = FakeClock()
    cache = PolicyCache(poll_seconds=3600, now=clock.now)
    worker = Worker(lambda: None, cache, clock)  # its thread is never started
    results: list[bool] = []

    def wait_in_a_thread(version: int) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: results.append(worker.wait_for_version(version, 10))
        )
        thread.start()
        clock.settle()  # it waits
        return thread

    waiter = wait_in_a_thread(2)
    cache.store_project(2, default_policy())
    worker.replaced()
    waiter.join(15)
    assert results == [True]
    waiter = wait_in_a_thread(3)
    clock.advance(9.5)
    clock.settle()  # still waiting: half a second is left
    cache.store_project(1, default_policy())  # an older version wakes nobody for good
    begun = clock.waits_begun
    worker.replaced()
    clock.settle(since=begun)  # woken, it waits again for the half second left
    clock.advance(0.5)
    waiter.join(15)
    assert results == [True, False]
    assert worker.wait_for_version(2, 0)  # there already: no wait


def test_organizations_age_out_only_while_no_stream_is_connected() -> None:
    clock = FakeClock()
    cache = PolicyCache(poll_seconds=30, now=clock.now)
    cache.store_project(1, default_policy())
    project = cache.project
    assert project is not None
    cache.stream_connected()
    cache.store_org("org-1", (), project, cache.epoch)
    clock.advance(3600)
    assert cache.org("org-1", project) is not None  # pushed: fresh however old
    cache.stream_lost()
    assert cache.org("org-1", project) is None  # polled: too old now
    cache.store_org("org-1", (), project, cache.epoch)
    clock.advance(29)
    assert cache.org("org-1", project) is not None  # younger than poll_seconds
    clock.advance(2)
    assert cache.org("org-1", project) is None


def test_the_organization_cache_is_a_bounded_lru() -> None:
    cache = PolicyCache(poll_seconds=3600, max_orgs=2)
    cache.store_project(1, default_policy())
    project = cache.project
    assert project is not None
    for org_id in ["a", "b"]:
        cache.store_org(org_id, (), project, cache.epoch)
    assert cache.org("a", project) is not None  # "a" is now the most recently used
    cache.store_org("c", (), project, cache.epoch)
    assert cache.cached_orgs() == 2
    assert cache.org("b", project) is None
    assert cache.org("a", project) is not None and cache.org("c", project) is not None


def test_backoff_doubles_up_to_its_bound_and_resets() -> None:
    backoff = Backoff()
    delays = [backoff.delay() for _ in range(10)]
    assert delays[0] == BACKOFF_FIRST_SECONDS
    assert all(b == min(a * 2, BACKOFF_MAX_SECONDS) for a, b in itertools.pairwise(delays))
    assert delays[-1] == BACKOFF_MAX_SECONDS == 5.0
    backoff.reset()
    assert backoff.delay() == BACKOFF_FIRST_SECONDS
