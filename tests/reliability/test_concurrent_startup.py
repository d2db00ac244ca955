"""Several nodes starting at once on one database all come up (several server workers, or a
CLI command run while the server starts).

Found while racing writers in separate processes: on PostgreSQL, every node's start re-ran the
event store's DDL (``CREATE OR REPLACE FUNCTION``, ``CREATE TYPE``) and the read models'
``CREATE TABLE IF NOT EXISTS``, which PostgreSQL does not make safe to run concurrently
("tuple concurrently updated", or a unique violation in ``pg_type``).
"""

from __future__ import annotations

import threading

import pytest
from reliability_support import settings_for

from kunveno.bootstrap import Container, build

NODES = 4


def start_nodes_at_once(database_url: str) -> tuple[list[Container], list[str]]:
    barrier = threading.Barrier(NODES)
    nodes: list[Container] = []
    errors: list[str] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait(timeout=30)
        try:
            started = build(settings_for(database_url))
        except Exception as error:
            with lock:
                errors.append(repr(error))
        else:
            with lock:
                nodes.append(started)

    threads = [threading.Thread(target=start) for _ in range(NODES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return nodes, errors


@pytest.mark.parametrize("initialised", [False, True], ids=["fresh", "initialised"])
def test_nodes_starting_together_all_come_up(database_url: str, initialised: bool) -> None:
    if initialised:
        build(settings_for(database_url)).close()

    nodes, errors = start_nodes_at_once(database_url)
    try:
        assert errors == []
        assert len(nodes) == NODES
        # And they share one working store: what one writes, another reads and folds.
        person = nodes[0].accounts.register("first", "s3cret-pass", None, None).value
        assert nodes[-1].accounts.person_id_for("first") == person
        nodes[-1].projections.catch_up()
        row = nodes[-1].queries.person(str(person))
        assert row is not None
        assert row["username"] == "first"
    finally:
        for node in nodes:
            node.close()
