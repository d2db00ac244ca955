"""The one-trip PostgreSQL recorder keeps the library's guarantees: a stale save is refused,
concurrent writers get distinct, increasing notification ids, and nothing is lost."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import IntegrityError

from kunveno.adapters.persistence.database import parse_database_url
from kunveno.adapters.persistence.one_trip import OneTripRecorder
from kunveno.application.log import EventLog
from kunveno.domain.actor import Actor
from kunveno.domain.gathering import Gathering, GatheringDetails, JoinMode

NOW = datetime.now(UTC)


@pytest.fixture
def log(postgres_url: str) -> Iterator[EventLog]:
    event_log = EventLog(env=parse_database_url(postgres_url).event_store_env)
    yield event_log
    event_log.close()


def gathering() -> Gathering:
    details = GatheringDetails(
        "Walk",
        "",
        NOW + timedelta(days=1),
        NOW + timedelta(days=2),
        "UTC",
        None,
        None,
        JoinMode.FREE,
        True,
    )
    return Gathering.schedule(
        gathering_id=uuid.uuid4(),
        community_id=uuid.uuid4(),
        details=details,
        capacity=None,
        actor=Actor.system(),
        at=NOW,
    )


def test_the_node_uses_the_one_trip_recorder_on_postgresql(log: EventLog) -> None:
    assert isinstance(log.recorder, OneTripRecorder)


def test_a_stale_save_is_refused_and_stores_nothing(log: EventLog) -> None:
    first = gathering()
    log.save(first)
    stale = copy.deepcopy(first)
    first.register(uuid.uuid4(), None, actor=Actor.anonymous(), at=NOW)
    stale.register(uuid.uuid4(), None, actor=Actor.anonymous(), at=NOW)
    log.save(first)
    head = log.recorder.max_notification_id()

    with pytest.raises(IntegrityError):
        log.save(stale)

    assert log.recorder.max_notification_id() == head
    assert log.repository.get(first.id).version == 2


def test_concurrent_writers_get_distinct_increasing_ids_and_lose_nothing(
    log: EventLog,
) -> None:
    saved: list[int] = []
    lock = threading.Lock()

    def write() -> None:
        for _ in range(40):
            recordings = log.save(gathering())
            with lock:
                saved.extend(r.notification.id for r in recordings)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    in_log = [n.id for n in log.recorder.select_notifications(start=1, limit=1000)]
    assert len(saved) == len(set(saved)) == 160
    assert in_log == sorted(in_log)
    assert set(in_log) == set(saved)
