"""Read models in PostgreSQL through a small psycopg connection pool."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from kunveno.projections.store import Params, Row


class _PostgresCursor:
    def __init__(self, cursor: psycopg.Cursor[dict[str, Any]]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(sql.encode(), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._cursor.executemany(sql.encode(), [tuple(r) for r in rows])

    def fetchall(self) -> list[Row]:
        return list(self._cursor.fetchall())


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
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PostgresCursor(cur)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(sql.encode(), tuple(params))
            return list(cur.fetchall())

    def close(self) -> None:
        self._pool.close()
