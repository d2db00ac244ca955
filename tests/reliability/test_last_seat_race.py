"""Many writers race for the last seats of one gathering, on SQLite and on PostgreSQL.

Threads share one node (its connection pools); OS processes each build a whole node from the
same database, which is what several server workers do. Either way the gathering's stream is
the consistency boundary: exactly ``capacity`` people are confirmed, the rest waitlisted, and
no moment of the stream ever has more seats taken than there are.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from uuid import UUID

import pytest
from reliability_support import (
    CONFIRMED,
    WAITLISTED,
    RaceResult,
    assert_log_well_formed,
    collect,
    max_confirmed_over_history,
    public_gathering,
    register_in_own_process,
    register_people,
    settings_for,
    statuses,
)

from kunveno.bootstrap import Container, build


def race_in_threads(
    node: Container, gathering_id: UUID, people: Sequence[UUID]
) -> list[RaceResult]:
    barrier = threading.Barrier(len(people))
    results: list[RaceResult] = []
    lock = threading.Lock()

    def register(person_id: UUID) -> None:
        barrier.wait(timeout=30)
        try:
            done = node.gatherings.register_person(person_id, gathering_id).value
        except Exception as error:
            result: RaceResult = (str(person_id), None, None, repr(error))
        else:
            result = (str(person_id), str(done.registration_id), done.status.value, None)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=register, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


def check_outcome(
    node: Container, gathering_id: UUID, capacity: int, writers: int, results: list[RaceResult]
) -> None:
    errors = [error for *_, error in results if error is not None]
    assert errors == [], errors
    assert len(results) == writers
    assert statuses(results) == {CONFIRMED: capacity, WAITLISTED: writers - capacity}

    # The aggregate, from the log.
    gathering = node.gatherings.load(gathering_id)
    answered = {registration: status for _, registration, status, _ in results if registration}
    assert gathering.registrations == answered
    assert gathering.confirmed_count == capacity
    assert len(gathering.waitlist) == writers - capacity
    assert max_confirmed_over_history(node, gathering_id) == capacity, "over capacity at some point"
    assert_log_well_formed(node)

    # The read model, once folded, agrees with the log and with what each writer was told.
    node.projections.catch_up()
    row = node.queries.gathering(str(gathering_id))
    assert row is not None
    assert (row["registration_count"], row["waitlist_count"]) == (capacity, writers - capacity)
    for registration, status in answered.items():
        stored = node.queries.registration(registration)
        assert stored is not None
        assert (stored["status"], stored["kind"]) == (status, "person")
    assert node.queries.registration_counts(str(gathering_id)) == statuses(results)


@pytest.mark.parametrize(("capacity", "writers"), [(1, 8), (3, 12)])
def test_threads_racing_for_the_last_seats(node: Container, capacity: int, writers: int) -> None:
    _, gathering = public_gathering(node, capacity)
    people = register_people(node, writers)

    results = race_in_threads(node, gathering, people)

    check_outcome(node, gathering, capacity, writers, results)


@pytest.mark.slow
def test_processes_racing_for_the_last_seats(database_url: str) -> None:
    """Six nodes in six processes (as six server workers), four writers in each."""
    capacity, processes, per_process = 2, 6, 4
    settings = settings_for(database_url)
    node = build(settings)
    workers: list[BaseProcess] = []
    try:
        _, gathering = public_gathering(node, capacity)
        people = [str(p) for p in register_people(node, processes * per_process)]
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(processes)
        queue = context.Queue()
        workers += [
            context.Process(
                target=register_in_own_process,
                args=(
                    settings,
                    str(gathering),
                    people[i * per_process : (i + 1) * per_process],
                    barrier,
                    queue,
                ),
            )
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        results = collect(queue, len(people), workers)
        for worker in workers:
            worker.join(timeout=30)
        assert [worker.exitcode for worker in workers] == [0] * processes

        check_outcome(node, gathering, capacity, len(people), results)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        node.close()
