"""The read-model database as the projections and queries see it: one SQL dialect for both.

SQL is written once, with ``%s`` placeholders and the common subset of SQLite and PostgreSQL
(``INSERT ... ON CONFLICT``, ``TEXT``/``BIGINT`` columns, booleans as 0/1, times as UTC ISO
text that sorts as it compares); the SQLite adapter swaps the placeholders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

Params = Sequence[Any]
Row = dict[str, Any]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Params = ()) -> None: ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    def fetchall(self) -> list[Row]: ...

    def pipeline(self) -> AbstractContextManager[None]:
        """Send the statements inside without waiting for each answer (where supported)."""
        ...


class ReadStore(Protocol):
    """A database for read models: transactions for projections, plain reads for queries."""

    def transaction(self) -> AbstractContextManager[Cursor]: ...

    def query(self, sql: str, params: Params = ()) -> list[Row]: ...

    def close(self) -> None: ...


def timestamp(moment: datetime) -> str:
    """UTC, fixed width, so text order is time order in both databases."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Writes:
    """The statements of a page of events, flushed in order, consecutive equal ones batched.

    Batching matters on PostgreSQL: one ``executemany`` per run of equal statements instead
    of a round trip per event is what lets a projection keep up with the log.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[str, list[Params]]] = []

    def add(self, sql: str, params: Params) -> None:
        if self._runs and self._runs[-1][0] == sql:
            self._runs[-1][1].append(params)
        else:
            self._runs.append((sql, [params]))

    def __iter__(self) -> Iterator[tuple[str, list[Params]]]:
        return iter(self._runs)

    def flush(self, cursor: Cursor) -> None:
        for sql, rows in self._runs:
            if len(rows) == 1:
                cursor.execute(sql, rows[0])
            else:
                cursor.executemany(sql, rows)
        self._runs.clear()
