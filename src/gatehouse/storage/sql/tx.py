"""The SQL backend's transactions: a connection in an open transaction, wrapped in the type that
says what it may do (`interface.ReadTx` or `interface.WriteTx`), and rows read back typed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from sqlalchemy import Connection

from gatehouse.storage.interface import ReadTx, WriteTx

T = TypeVar("T")


class SqlReadTx(ReadTx):
    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class SqlWriteTx(SqlReadTx, WriteTx):
    __slots__ = ()


def conn(tx: ReadTx) -> Connection:
    """The connection of a transaction this backend opened."""
    if not isinstance(tx, SqlReadTx):
        raise TypeError(f"not a transaction of the SQL store: {tx!r}")
    return tx.conn


def one(result: Any, shape: type[T]) -> T | None:
    """A row (or None) as the TypedDict `shape` names (which costs nothing: it stays a dict)."""
    return cast(T, dict(result._mapping)) if result is not None else None


def every(results: Iterable[Any], shape: type[T]) -> list[T]:
    return [cast(T, dict(r._mapping)) for r in results]
