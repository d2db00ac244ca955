"""The read-model database as the projections and queries see it: one SQL dialect for both.

SQL is written once, with ``%s`` placeholders and the common subset of SQLite and PostgreSQL
(``INSERT ... ON CONFLICT``, ``TEXT``/``BIGINT`` columns, booleans as 0/1, times as UTC ISO
text that sorts as it compares); the SQLite adapter swaps the placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
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

    def compact(self, tables: Sequence[str]) -> None:
        """Leave no copy of deleted or overwritten rows in the files (after an erasure)."""
        ...

    def close(self) -> None: ...


def timestamp(moment: datetime) -> str:
    """UTC, fixed width, so text order is time order in both databases."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_timestamp(text: str) -> datetime:
    # fromisoformat reads the trailing Z (Python 3.11) and is many times faster than strptime.
    return datetime.fromisoformat(text).astimezone(UTC)


MAX_PARAMS = 999  # SQLite's historical bound on parameters in one statement


@dataclass
class _RowChange:
    deleted: bool = False
    values: dict[str, Any] | None = None
    inserting: bool = False  # False: the row exists already, only ``UPDATE`` it


class Writes:
    """A page of row changes, coalesced per row and written in few statements.

    Handlers say what a row becomes (``upsert`` a whole row, ``update`` some columns of an
    existing one, ``delete`` it); the changes of one row within the page are merged in order,
    and rows changed the same way are written by one multi-row ``INSERT ... ON CONFLICT`` (or
    one batched ``UPDATE``/``DELETE``) per table. That turns a page of
    hundreds of events into a handful of statements, which is what lets a projection keep up
    with the log (a statement per event is bounded by the database's per-statement cost).
    """

    def __init__(self) -> None:
        # The log position of the event being folded, set by the runner before each handler.
        self.position: int = 0
        self._rows: dict[tuple[str, tuple[tuple[str, Any], ...]], _RowChange] = {}
        self._appended: dict[tuple[str, tuple[str, ...]], list[Params]] = {}
        self._new: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Params]] = {}

    def append(self, table: str, values: dict[str, Any]) -> None:
        """A new row of an append-only table (a trail): never merged with another."""
        self._appended.setdefault((table, tuple(values)), []).append(list(values.values()))

    def insert_new(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """A row that is written once and then owned by someone else (a work queue's item):
        inserted when absent, left as it is when present."""
        group = self._new.setdefault((table, tuple(key), tuple(values)), [])
        group.append([*key.values(), *values.values()])

    def upsert(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """The row as a whole (every NOT NULL column): inserted, or overwritten."""
        change = self._rows.setdefault((table, tuple(key.items())), _RowChange())
        change.values = {**(change.values or {}), **values}
        change.inserting = True

    def update(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Some columns of a row that exists (or is upserted earlier in the page)."""
        change = self._rows.setdefault((table, tuple(key.items())), _RowChange())
        if change.deleted and change.values is None:
            return  # deleted earlier in the page: nothing to update
        change.values = {**(change.values or {}), **values}

    def delete(self, table: str, key: dict[str, Any]) -> None:
        change = self._rows.setdefault((table, tuple(key.items())), _RowChange())
        change.deleted, change.values, change.inserting = True, None, False

    def flush(self, cursor: Cursor) -> None:
        deletes: dict[tuple[str, tuple[str, ...]], list[Params]] = {}
        upserts: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Params]] = {}
        updates: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Params]] = {}
        for (table, key), change in self._rows.items():
            key_columns = tuple(column for column, _ in key)
            key_values = [value for _, value in key]
            if change.deleted:
                deletes.setdefault((table, key_columns), []).append(key_values)
            if change.values is not None and change.inserting:
                value_columns = tuple(change.values)
                group = upserts.setdefault((table, key_columns, value_columns), [])
                group.append([*key_values, *change.values.values()])
            elif change.values is not None:
                value_columns = tuple(change.values)
                group = updates.setdefault((table, key_columns, value_columns), [])
                group.append([*change.values.values(), *key_values])
        for (table, key_columns), rows in deletes.items():
            where = " AND ".join(f"{column} = %s" for column in key_columns)
            cursor.executemany(f"DELETE FROM {table} WHERE {where}", rows)
        for (table, columns), rows in self._appended.items():
            _insert_rows(cursor, table, (), columns, rows)
        for (table, key_columns, value_columns), rows in upserts.items():
            _insert_rows(cursor, table, key_columns, value_columns, rows)
        for (table, key_columns, value_columns), rows in self._new.items():
            _insert_rows(cursor, table, key_columns, value_columns, rows, keep_existing=True)
        for (table, key_columns, value_columns), rows in updates.items():
            assignments = ", ".join(f"{column} = %s" for column in value_columns)
            where = " AND ".join(f"{column} = %s" for column in key_columns)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {where}", rows)
        self._rows.clear()
        self._appended.clear()
        self._new.clear()


def _insert_rows(
    cursor: Cursor,
    table: str,
    key_columns: tuple[str, ...],
    value_columns: tuple[str, ...],
    rows: list[Params],
    *,
    keep_existing: bool = False,
) -> None:
    columns = (*key_columns, *value_columns)
    conflict = ", ".join(key_columns)
    if not key_columns:
        on_conflict = ""  # appended rows: a duplicate is an error, never merged
    elif value_columns and not keep_existing:
        updates = ", ".join(f"{column} = excluded.{column}" for column in value_columns)
        on_conflict = f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    else:
        on_conflict = f"ON CONFLICT ({conflict}) DO NOTHING"
    per_statement = max(1, MAX_PARAMS // len(columns))
    full = len(rows) - len(rows) % per_statement
    # Statements of one fixed size, so the driver parses each shape once and reuses it; the
    # remainder goes row by row, again one shape.
    if full:
        sql = _insert_sql(table, columns, per_statement, on_conflict)
        for start in range(0, full, per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(sql, [value for row in chunk for value in row])
    if full < len(rows):
        cursor.executemany(_insert_sql(table, columns, 1, on_conflict), rows[full:])


def _insert_sql(table: str, columns: tuple[str, ...], rows: int, on_conflict: str) -> str:
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = ", ".join([placeholders] * rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} {on_conflict}"
