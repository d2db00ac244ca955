"""Read models in PostgreSQL through a small psycopg connection pool."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from kunveno.projections.store import Params, Row

# An arbitrary application-wide key ("kunveno" in ASCII) for the advisory lock below.
SCHEMA_LOCK_KEY = 0x6B756E76656E6F


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold a database-wide advisory lock while a node creates or checks its tables.

    PostgreSQL's DDL is not safe to run concurrently, not even ``CREATE ... IF NOT EXISTS``
    or the event store's ``CREATE OR REPLACE FUNCTION`` ("tuple concurrently updated"), so
    nodes starting together on one database take turns. A crash releases the lock.
    """
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


@functools.lru_cache(maxsize=512)
def _numbered(sql: str) -> bytes:
    """``%s`` placeholders as PostgreSQL's own ``$1, $2, ...``, converted once per statement.

    psycopg parses ``%s`` queries on every call once they are longer than its cache takes
    (4 KiB), which the multi-row upserts of a projection page are; a raw cursor with numbered
    placeholders skips that parsing altogether.
    """
    parts = sql.split("%s")
    numbered = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        numbered.append(f"${index}{part}")
    return "".join(numbered).encode()


class _PostgresCursor:
    def __init__(self, cursor: psycopg.RawCursor[dict[str, Any]]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(_numbered(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._cursor.executemany(_numbered(sql), [tuple(r) for r in rows])

    def fetchall(self) -> list[Row]:
        return list(self._cursor.fetchall())

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        with self._cursor.connection.pipeline():
            yield


class PostgresReadStore:
    def __init__(self, url: str, max_size: int = 8) -> None:
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=True,
        )

    @contextmanager
    def transaction(self) -> Iterator[_PostgresCursor]:
        with (
            self._pool.connection() as conn,
            conn.transaction(),
            psycopg.RawCursor(conn) as cur,
        ):
            yield _PostgresCursor(cur)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._pool.connection() as conn, psycopg.RawCursor(conn) as cur:
            cur.execute(_numbered(sql), tuple(params))
            return list(cur.fetchall())

    def compact(self, tables: Sequence[str]) -> None:
        """Rewrite the tables, so dead row versions (which VACUUM would only mark free, bytes
        and all) leave the data files. Locks each table for the moment of its rewrite."""
        with self._pool.connection() as conn:
            for table in tables:
                conn.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(table)))

    def close(self) -> None:
        self._pool.close()
