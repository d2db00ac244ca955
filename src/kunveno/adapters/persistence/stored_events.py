"""Stored events by log position: a page of them in one query on the library's events table.

The library's recorder reads only ranges of the log, and what one reader wants (a person's
events for their export, a community's for its agents' stream) is spread over all of it.
Read through the read store, which is the same database as the event store (the in-memory
store of unit tests has no table: it is asked a position at a time).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from kunveno.application.log import EventLog
from kunveno.projections.store import ReadStore, Row

_COLUMNS = "originator_id, originator_version, topic, state"


class StoredEvents:
    def __init__(self, store: ReadStore, log: EventLog) -> None:
        self._store = store
        self._log = log
        recorder = log.recorder
        self._sql: str | None = None
        # The table's name is the library's (from our configuration), never input.
        if isinstance(recorder, PostgresApplicationRecorder):
            table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
            self._sql = (
                f"SELECT notification_id AS id, {_COLUMNS} FROM {table} "  # noqa: S608
                "WHERE notification_id IN "
            )
        elif isinstance(recorder, SQLiteApplicationRecorder):
            table = recorder.events_table_name
            self._sql = f"SELECT rowid AS id, {_COLUMNS} FROM {table} WHERE rowid IN "  # noqa: S608

    def by_position(self, positions: Iterable[int]) -> dict[int, StoredEvent]:
        """Each stored event found, by its position; a position not in the log is left out."""
        wanted = list(positions)
        if not wanted:
            return {}
        if self._sql is None:
            recorder = self._log.recorder
            found = [n for p in wanted for n in recorder.select_notifications(p, 1, stop=p)]
            return {n.id: n for n in found}
        marks = ", ".join(["%s"] * len(wanted))
        rows = self._store.query(f"{self._sql}({marks})", wanted)
        return {int(row["id"]): _stored(row) for row in rows}


def _stored(row: Row) -> StoredEvent:
    originator = row["originator_id"]
    return StoredEvent(
        originator_id=originator if isinstance(originator, UUID) else UUID(str(originator)),
        originator_version=int(row["originator_version"]),
        topic=str(row["topic"]),
        state=bytes(row["state"]),
    )
