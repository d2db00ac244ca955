"""Stored events read by their log positions (as the export and the agents' stream read
them): what the recorder holds, on SQLite and on PostgreSQL."""

from __future__ import annotations

from eventsourcing.persistence import StoredEvent

from kunveno.adapters.persistence.stored_events import StoredEvents
from kunveno.bootstrap import Container

PASSWORD = "correct horse battery staple"


def fields(event: StoredEvent) -> tuple[object, ...]:
    return event.originator_id, event.originator_version, event.topic, bytes(event.state)


def test_events_are_read_by_position_as_the_recorder_holds_them(node: Container) -> None:
    node.accounts.register("ada", PASSWORD, None, None)
    node.accounts.register("bob", PASSWORD, None, None)
    recorded = node.log.recorder.select_notifications(1, 100)
    first, last = recorded[0], recorded[-1]
    events = StoredEvents(node.read_store, node.log)

    found = events.by_position([last.id, first.id, last.id + 1000])

    assert sorted(found) == [first.id, last.id]  # a position not in the log is left out
    assert fields(found[first.id]) == fields(first)
    assert fields(found[last.id]) == fields(last)
    assert events.by_position([]) == {}
