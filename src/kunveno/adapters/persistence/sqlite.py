"""Read models in SQLite: one connection guarded by a lock, WAL like the event store."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kunveno.projections.store import Params, Row


@contextmanager
def schema_lock(path: str) -> Iterator[None]:
    """Nodes starting together on one SQLite file take turns creating tables.

    Switching a fresh file to WAL and creating tables from several connections at once can
    fail with "database is locked" before any busy timeout helps; an exclusive lock on a file
    beside the database serialises it (and a crash releases it).
    """
    with open(f"{path}.setup-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _sqlite(sql: str) -> str:
    return sql.replace("%s", "?")


class _SqliteCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(_sqlite(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._cursor.executemany(_sqlite(sql), [tuple(r) for r in rows])

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        yield  # in-process: there are no round trips to save

    def fetchall(self) -> list[Row]:
        names = [d[0] for d in self._cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in self._cursor.fetchall()]


class SqliteReadStore:
    def __init__(self, path: str) -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 10000")
        # Deleted and overwritten rows are zeroed, not left in free pages (erasure).
        self._conn.execute("PRAGMA secure_delete = ON")
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            # Durable like the event store: a committed read model survives a power cut.
            self._conn.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def transaction(self) -> Iterator[_SqliteCursor]:
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteCursor(cursor)
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._lock:
            cursor = _SqliteCursor(self._conn.cursor())
            cursor.execute(sql, params)
            return cursor.fetchall()

    def compact(self, tables: Sequence[str]) -> None:
        """Old row images live on in the write-ahead log until a checkpoint: fold it into
        the file (whose freed space secure_delete zeroed) and truncate it."""
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def raw(self) -> Any:
        return self._conn
