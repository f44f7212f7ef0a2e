"""The conformance suite exercises every method of every storage Protocol: each method (and the
`dialect` property) declared on a Protocol class of `gatehouse.storage.interface` must be reached
as `store.<name>` somewhere in tests/storage/*.py.

"Reached" is syntactic (an attribute of a name `store`, called or passed on), so a method reached
only through `getattr(store, "...")` does not count.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from gatehouse.storage import SqlStore, interface

HERE = Path(__file__).parent


def protocol_methods(module: object = interface) -> dict[str, str]:
    """Every public method and property declared on a Protocol class of `module`, by name, with
    the Protocol that declares it (from each class's own `__dict__`, so nothing inherited)."""
    found: dict[str, str] = {}
    for cls in vars(module).values():
        if not (
            inspect.isclass(cls)
            and cls.__module__ == getattr(module, "__name__", None)
            and getattr(cls, "_is_protocol", False)
        ):
            continue
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            if inspect.isfunction(member) or isinstance(member, property):
                found.setdefault(name, cls.__name__)
    return found


def store_attributes(source: str) -> set[str]:
    """The names used as `store.<name>` in Python `source`."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "store"
    }


def unexercised(methods: dict[str, str], sources: list[str]) -> list[str]:
    used = set().union(*(store_attributes(source) for source in sources))
    return sorted(f"{methods[name]}.{name}" for name in set(methods) - used)


def test_every_protocol_method_is_exercised_by_the_storage_tests() -> None:
    methods = protocol_methods()
    sources = [path.read_text() for path in sorted(HERE.glob("*.py"))]
    missing = unexercised(methods, sources)
    assert not missing, (
        f"{len(missing)} of {len(methods)} storage Protocol methods are never called as "
        f"`store.<name>` in tests/storage: {', '.join(missing)}"
    )


def test_the_collector_finds_every_protocol_and_the_dialect_property() -> None:
    methods = protocol_methods()
    assert set(methods.values()) == {
        "Transactions",
        "ChangeFeed",
        "ProjectStore",
        "OrganizationStore",
        "MemberStore",
        "SessionStore",
        "EventStore",
        "WorkspaceStore",
        "EmailFlowStore",
        "ScimStore",
        "SsoStore",
        "MfaStore",
    }
    assert methods["dialect"] == "Transactions"
    assert methods["use_email_token"] == "WorkspaceStore"
    assert "_is_protocol" not in methods and "__init__" not in methods
    # Every name it collects is something the SQL store really has.
    assert all(hasattr(SqlStore, name) for name in methods)


def test_the_guard_reports_a_method_the_tests_never_reach() -> None:
    methods = {"read": "Transactions", "dialect": "Transactions", "close": "Transactions"}
    source = """
def test_something(store, other):
    with store.read() as tx:
        other.close()  # another object's close is not the store's
    assert store.dialect
    "store.close()"  # nor is a string that spells it
"""
    assert store_attributes(source) == {"read", "dialect"}
    assert unexercised(methods, [source]) == ["Transactions.close"]
    assert unexercised(methods, [source, "store.close()"]) == []
