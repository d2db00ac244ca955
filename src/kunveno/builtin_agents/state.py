"""What the built-in agents keep beside the API: a small side table, never the event log.

One row per (community, built-in): the agent's token (the log keeps only its hash, so this is
the one place that can act as the agent: back it up like ``fed_keys``), how far the welcome
agent has read the stream, when to try again after a refusal, and a lease, so that of several
server processes one at a time acts for an agent. A second table remembers which gatherings
the reminder reminded of (a help beside the API, which stays the judge: see reminder.py).

The row is claimed before the agent is made, which is what makes enabling a built-in twice in
one community a conflict even when two admins try at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from kunveno.projections.store import ReadStore, timestamp

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS builtin_agents ("
    "community_id TEXT NOT NULL, builtin TEXT NOT NULL, claim TEXT NOT NULL, "
    "claimed_at TEXT NOT NULL, agent_id TEXT, token TEXT, "
    "position BIGINT NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, retry_at TEXT, "
    "lease_holder TEXT, lease_until TEXT, PRIMARY KEY (community_id, builtin))",
    "CREATE TABLE IF NOT EXISTS builtin_agent_reminded ("
    "agent_id TEXT NOT NULL, gathering_id TEXT NOT NULL, starts_at TEXT NOT NULL, "
    "reminded_at TEXT NOT NULL, PRIMARY KEY (agent_id, gathering_id, starts_at))",
)

# A claim whose agent was never made (its process died while enabling) lapses after this.
STALE_CLAIM = timedelta(minutes=2)


@dataclass(frozen=True)
class Enabled:
    agent_id: str
    token: str
    position: int
    failures: int


class AgentStates:
    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def setup(self) -> None:
        with self._store.transaction() as cur:
            for statement in SCHEMA:
                cur.execute(statement)

    # -- enabling (the node's part: adapters/builtin_enabling.py) -------------------------

    def claim(
        self, community_id: str, builtin: str, now: datetime, is_live: Callable[[str], bool]
    ) -> str | None:
        """A claim on the built-in in this community, or None when it is enabled already.
        The row of a removed agent, or of an enabling that never finished, is taken over."""
        claim = uuid4().hex
        with self._store.transaction() as cur:
            cur.execute(
                "INSERT INTO builtin_agents (community_id, builtin, claim, claimed_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (community_id, builtin) DO NOTHING",
                (community_id, builtin, claim, timestamp(now)),
            )
            if cur.rowcount == 1:
                return claim
        rows = self._store.query(
            "SELECT claim, claimed_at, agent_id FROM builtin_agents "
            "WHERE community_id = %s AND builtin = %s",
            (community_id, builtin),
        )
        if not rows:
            return None  # released meanwhile: the caller may simply try again
        old = rows[0]
        if old["agent_id"] is None:
            taken = old["claimed_at"] >= timestamp(now - STALE_CLAIM)
        else:
            taken = is_live(old["agent_id"])
        return None if taken else self._take_over(community_id, builtin, old["claim"], claim, now)

    def _take_over(
        self, community_id: str, builtin: str, old: str, claim: str, now: datetime
    ) -> str | None:
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET claim = %s, claimed_at = %s, agent_id = NULL, "
                "token = NULL, position = 0, failures = 0, retry_at = NULL, "
                "lease_holder = NULL, lease_until = NULL "
                "WHERE community_id = %s AND builtin = %s AND claim = %s",
                (claim, timestamp(now), community_id, builtin, old),
            )
            return claim if cur.rowcount == 1 else None

    def release(self, community_id: str, builtin: str, claim: str) -> None:
        """Give a claim up: the agent could not be made."""
        with self._store.transaction() as cur:
            cur.execute(
                "DELETE FROM builtin_agents WHERE community_id = %s AND builtin = %s "
                "AND claim = %s AND agent_id IS NULL",
                (community_id, builtin, claim),
            )

    def enabled(
        self, community_id: str, builtin: str, claim: str, agent_id: str, token: str, position: int
    ) -> None:
        """The agent is made: keep its token, and where in the log it starts."""
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET agent_id = %s, token = %s, position = %s "
                "WHERE community_id = %s AND builtin = %s AND claim = %s",
                (agent_id, token, position, community_id, builtin, claim),
            )

    # -- acting (the runner's part) -------------------------------------------------------

    def due(self, builtin: str, now: datetime) -> list[Enabled]:
        """The agents of this built-in that may act now (not waiting after a refusal)."""
        rows = self._store.query(
            "SELECT agent_id, token, position, failures FROM builtin_agents "
            "WHERE builtin = %s AND agent_id IS NOT NULL AND token IS NOT NULL "
            "AND (retry_at IS NULL OR retry_at <= %s) ORDER BY community_id",
            (builtin, timestamp(now)),
        )
        return [
            Enabled(r["agent_id"], r["token"], int(r["position"]), int(r["failures"])) for r in rows
        ]

    def lease(self, agent_id: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take, or renew, the right to act for the agent until ``now + ttl``."""
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET lease_holder = %s, lease_until = %s "
                "WHERE agent_id = %s AND (lease_holder IS NULL OR lease_holder = %s "
                "OR lease_until IS NULL OR lease_until < %s)",
                (holder, timestamp(now + ttl), agent_id, holder, timestamp(now)),
            )
            return cur.rowcount == 1

    def unlease(self, agent_id: str, holder: str) -> None:
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET lease_holder = NULL, lease_until = NULL "
                "WHERE agent_id = %s AND lease_holder = %s",
                (agent_id, holder),
            )

    def position(self, agent_id: str) -> int:
        rows = self._store.query(
            "SELECT position FROM builtin_agents WHERE agent_id = %s", (agent_id,)
        )
        return int(rows[0]["position"]) if rows else 0

    def advance(self, agent_id: str, position: int) -> None:
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET position = %s WHERE agent_id = %s AND position < %s",
                (position, agent_id, position),
            )

    def succeeded(self, agent_id: str) -> None:
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET failures = 0, retry_at = NULL "
                "WHERE agent_id = %s AND (failures > 0 OR retry_at IS NOT NULL)",
                (agent_id,),
            )

    def pause(self, agent_id: str, until: datetime) -> None:
        """Refused for now (suspended, a scope taken away, rate-limited): not before ``until``."""
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE builtin_agents SET failures = failures + 1, retry_at = %s "
                "WHERE agent_id = %s",
                (timestamp(until), agent_id),
            )

    def retire(self, agent_id: str) -> None:
        """The agent was removed: forget its token (its history stays in the log)."""
        with self._store.transaction() as cur:
            cur.execute("DELETE FROM builtin_agents WHERE agent_id = %s", (agent_id,))
            cur.execute("DELETE FROM builtin_agent_reminded WHERE agent_id = %s", (agent_id,))

    # -- what the reminder remembers ----------------------------------------------------------

    def reminded(self, agent_id: str, gathering_id: str, starts_at: datetime) -> bool:
        rows = self._store.query(
            "SELECT 1 AS found FROM builtin_agent_reminded "
            "WHERE agent_id = %s AND gathering_id = %s AND starts_at = %s",
            (agent_id, gathering_id, timestamp(starts_at)),
        )
        return bool(rows)

    def remember(
        self, agent_id: str, gathering_id: str, starts_at: datetime, now: datetime
    ) -> None:
        with self._store.transaction() as cur:
            cur.execute(
                "INSERT INTO builtin_agent_reminded (agent_id, gathering_id, starts_at, "
                "reminded_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (agent_id, gathering_id, timestamp(starts_at), timestamp(now)),
            )
