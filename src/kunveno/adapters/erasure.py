"""Erasing a person: the key is destroyed and the erasure recorded (AccountService.erase),
then every derived copy of what they said is scrubbed where the log's projections cannot
reach: outgoing activities that carried it, export files, and the database files' free space.
"""

from __future__ import annotations

import json
from uuid import UUID

from kunveno.bootstrap import Container
from kunveno.domain.actor import Actor

SCRUBBED_TABLES = ("rm_people", "rm_posts", "fed_activities", "pii_keys")


def erase_person(node: Container, person_id: UUID, by: Actor) -> bool:
    """Erase the person; ``False`` when they were erased already (it is safe to repeat)."""
    username = node.accounts.load(person_id).username
    outcome = node.accounts.erase(person_id, by)
    # The read models drop their names and words; the outbox queues a Delete of the actor.
    node.read_your_writes(outcome.position)
    node.outbox_runner.wait(outcome.position, node.settings.read_your_writes_timeout)
    _scrub_activities(node, node.urls.person(username))
    for path in (node.settings.data_dir / "exports").glob(f"{person_id}*"):
        path.unlink(missing_ok=True)
    node.read_store.compact(SCRUBBED_TABLES)
    return outcome.value


def _scrub_activities(node: Container, person_url: str) -> None:
    """Activities we published that carried their words (their Notes, the community's
    Announces of them) keep their ids, so peers' references resolve, but no content."""
    pattern = f'%"{person_url}"%'
    rows = node.read_store.query(
        "SELECT id, type FROM fed_activities WHERE body LIKE %s AND NOT (type = %s AND actor = %s)",
        (pattern, "Delete", person_url),
    )
    tombstones = [
        (json.dumps({"id": row["id"], "type": "Tombstone", "formerType": row["type"]}), row["id"])
        for row in rows
    ]
    with node.read_store.transaction() as cur:
        cur.executemany("UPDATE fed_activities SET body = %s WHERE id = %s", tombstones)
