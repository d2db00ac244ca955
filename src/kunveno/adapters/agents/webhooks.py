"""Webhooks: an agent's stream, POSTed in batches to a URL its admins set, for agents that
cannot hold a connection open.

The body is ``{"agent_id", "community_id", "events": [...]}``, each event the same JSON the
stream carries (with its log ``position``: receivers deduplicate by it). Signed with the
webhook's secret: ``X-Kunveno-Timestamp`` (Unix seconds) and ``X-Kunveno-Signature:
sha256=HEX``, the HMAC-SHA256 of ``TIMESTAMP.BODY`` (``verify`` shows how to check it).

Kept in the side table ``agent_webhooks`` beside the log, never in it (the secret acts as
the node to the receiver): its URL, secret and how far it was delivered. A batch is leased
before it is sent, so two workers never send one at once; the position moves only when the
receiver answered 2xx, so delivery is at least once, in log order, without a gap. Anything
else is retried after 1 s, 2 s, 5 s, 15 s, 1 min, 5 min, 15 min and then every hour (±20 %,
``Retry-After`` honoured up to an hour), never skipped: an admin removes a webhook that
should stop. Paused while the agent is suspended or lacks ``stream:read``; removed with it.
Sent through the guarded client: no private address unless the node allows it (tests).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from kunveno.adapters.activitypub.fetching import FetchError, SafeHttp
from kunveno.adapters.agents.feed import Feed, FeedPage, allowed_scopes, trail_position
from kunveno.adapters.scheduler import IntervalJob
from kunveno.application.log import EventLog
from kunveno.application.ports import Clock
from kunveno.domain.agent import Agent, AgentStatus
from kunveno.domain.errors import NotFound
from kunveno.projections.store import ReadStore, Row, timestamp

log = logging.getLogger(__name__)

RETRY_SCHEDULE = tuple(timedelta(seconds=s) for s in (1, 2, 5, 15, 60, 300, 900, 3600))
MAX_RETRY_AFTER = timedelta(hours=1)
LEASE = timedelta(seconds=60)
PAUSED_RECHECK = timedelta(seconds=5)
BATCH = 100  # events at most in one POST
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp either side of now
SCHEMA = (
    # seen_head: the trail's position when this webhook last found nothing more to send
    # (it is due again once the trail passes it).
    """CREATE TABLE IF NOT EXISTS agent_webhooks (
        agent_id TEXT PRIMARY KEY, community_id TEXT NOT NULL, url TEXT NOT NULL,
        secret TEXT NOT NULL, position BIGINT NOT NULL, seen_head BIGINT NOT NULL,
        attempts INTEGER NOT NULL, next_at TEXT NOT NULL, lease_until TEXT,
        last_status INTEGER, last_error TEXT, delivered_at TEXT, created_at TEXT NOT NULL)"""
)


def sign(secret: str, stamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    stamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: int = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver checks: the signature over ``TIMESTAMP.BODY``, and a recent stamp."""
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    status: int | None
    error: str | None
    retry_after: float | None = None


class WebhookWorker:
    def __init__(
        self,
        store: ReadStore,
        feed: Feed,
        http: SafeHttp,
        log_app: EventLog,
        clock: Clock,
        *,
        interval: float = 1.0,
        concurrency: int = 8,
        retry_schedule: tuple[timedelta, ...] = RETRY_SCHEDULE,
        jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2),
    ) -> None:
        self._store = store
        self._feed = feed
        self._http = http
        self._log = log_app
        self._clock = clock
        self._concurrency = concurrency
        self._schedule = retry_schedule
        self._jitter = jitter
        self._job = IntervalJob("webhooks", interval, self._run)
        self._running = threading.Lock()
        self._again = threading.Event()  # poked during a run: run once more
        self._busy = threading.Event()
        self._stopping = threading.Event()
        self._pool: ThreadPoolExecutor | None = None

    def setup(self) -> None:
        with self._store.transaction() as cur:
            cur.execute(SCHEMA)

    # -- what the admins set ----------------------------------------------------------------

    def set(self, agent_id: UUID, community_id: UUID, url: str, *, after: int | None) -> str:
        """Send the agent's events to ``url`` from now (or after log position ``after``),
        with a new secret, answered once. Changing the URL keeps the position."""
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        now = timestamp(self._clock.now())
        start = after if after is not None else self._log.recorder.max_notification_id() or 0
        with self._store.transaction() as cur:
            cur.execute(
                "INSERT INTO agent_webhooks (agent_id, community_id, url, secret, position, "
                "seen_head, attempts, next_at, created_at) "
                "VALUES (%s, %s, %s, %s, %s, 0, 0, %s, %s) "
                "ON CONFLICT (agent_id) DO UPDATE SET url = excluded.url, "
                "secret = excluded.secret, seen_head = 0, attempts = 0, "
                "next_at = excluded.next_at, lease_until = NULL, last_status = NULL, "
                "last_error = NULL",
                (str(agent_id), str(community_id), url, secret, start, now, now),
            )
            if after is not None:
                cur.execute(
                    "UPDATE agent_webhooks SET position = %s WHERE agent_id = %s",
                    (after, str(agent_id)),
                )
        self.poke()
        return secret

    def remove(self, agent_id: UUID) -> bool:
        with self._store.transaction() as cur:
            cur.execute("DELETE FROM agent_webhooks WHERE agent_id = %s", (str(agent_id),))
            return cur.rowcount > 0

    def get(self, agent_id: UUID) -> Row | None:
        """The webhook as its admins see it (its secret too: the caller leaves it out)."""
        rows = self._store.query(
            "SELECT * FROM agent_webhooks WHERE agent_id = %s", (str(agent_id),)
        )
        return rows[0] if rows else None

    # -- the scheduled job ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._job.start()

    def stop(self) -> None:
        self._stopping.set()  # a run in progress ends after its batch
        self._job.stop()
        with self._running:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def poke(self, position: int = 0) -> None:
        """The trail advanced: run now rather than at the next interval (or, during a run,
        run once more after it: asking the scheduler then would only skip, noisily)."""
        self._again.set()
        if not self._busy.is_set():
            self._job.run_soon()

    def _run(self) -> None:
        self._busy.set()
        try:
            while True:
                self._again.clear()
                if self._stopping.is_set():
                    return
                if self.run_due():
                    continue
                self._busy.clear()
                if not self._again.is_set():
                    return  # (a poke from now on starts a run of its own)
                self._busy.set()
        except Exception:
            log.exception("webhook run failed; the next run retries")
        finally:
            self._busy.clear()

    def run_due(self) -> int:
        """Send one batch to every webhook due now; answer how many were handled."""
        with self._running:
            now = self._clock.now()
            head = trail_position(self._store)  # before any page is read: see _deliver
            leased = self._lease(now, head)
            if not leased:
                return 0
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="webhook")
            list(self._pool.map(lambda row: self._deliver(row, head), leased))
            return len(leased)

    def _lease(self, now: datetime, head: int) -> list[Row]:
        stamp = timestamp(now)
        candidates = self._store.query(
            "SELECT * FROM agent_webhooks WHERE next_at <= %s AND seen_head < %s "
            "AND (lease_until IS NULL OR lease_until < %s) ORDER BY next_at, agent_id LIMIT %s",
            (stamp, head, stamp, self._concurrency * 8),
        )
        leased = []
        with self._store.transaction() as cur:
            for row in candidates:
                # Compare-and-set: another worker (process) may have leased it meanwhile.
                cur.execute(
                    "UPDATE agent_webhooks SET lease_until = %s WHERE agent_id = %s "
                    "AND (lease_until IS NULL OR lease_until < %s)",
                    (timestamp(now + LEASE), row["agent_id"], stamp),
                )
                if cur.rowcount == 1:
                    leased.append(row)
        return leased

    # -- one webhook ------------------------------------------------------------------------

    def _deliver(self, row: Row, head: int) -> None:
        try:
            self._attempt(row, head)
        except Exception as error:
            log.exception("webhook of agent %s failed", row["agent_id"])
            self._failed(row, _Outcome(False, None, f"internal: {type(error).__name__}"))

    def _attempt(self, row: Row, head: int) -> None:
        page = self._feed.page(UUID(row["community_id"]), int(row["position"]), BATCH)
        # Loaded after the page: a suspension logged before any of its events shows here.
        agent = self._agent(UUID(row["agent_id"]))
        if agent is None or agent.status is AgentStatus.REMOVED:
            self._write(row, "DELETE FROM agent_webhooks", ())
            return
        allowed = allowed_scopes(agent.status.value, agent.scopes)
        if isinstance(allowed, str):
            self._pause(row, allowed, head)
            return
        items = [item.data for item in page.items if item.scope in allowed]
        # Everything up to the head read before the page is now seen, unless more waits.
        seen = 0 if page.full else head
        if not items:
            self._advance(row, page, seen, None)
            return
        outcome = self._send(row, items)
        if outcome.delivered:
            self._advance(row, page, seen, outcome.status)
        else:
            self._failed(row, outcome)

    def _agent(self, agent_id: UUID) -> Agent | None:
        try:
            return self._log.load(Agent, agent_id, "agent")
        except NotFound:
            return None

    def _send(self, row: Row, items: list[bytes]) -> _Outcome:
        body = b'{"agent_id":%s,"community_id":%s,"events":[%s]}' % (
            orjson.dumps(row["agent_id"]),
            orjson.dumps(row["community_id"]),
            b",".join(items),
        )
        secret = str(row["secret"])

        def signer(method: str, url: str, data: bytes | None, _: dict[str, str]) -> dict[str, str]:
            stamp = str(int(self._clock.now().timestamp()))  # at send time, not at lease
            return {
                "X-Kunveno-Timestamp": stamp,
                "X-Kunveno-Signature": sign(secret, stamp, data or b""),
            }

        headers = {"Content-Type": "application/json", "X-Kunveno-Agent": str(row["agent_id"])}
        try:
            result = self._http.post(str(row["url"]), body, headers, signer=signer)
        except FetchError as error:
            return _Outcome(False, error.status, f"{error.code}: {error.detail}")
        if 200 <= result.status < 300:
            return _Outcome(True, result.status, None)
        return _Outcome(False, result.status, f"answered {result.status}", result.retry_after)

    # -- writing the outcome back -----------------------------------------------------------

    def _advance(self, row: Row, page: FeedPage, seen: int, status: int | None) -> None:
        now = timestamp(self._clock.now())
        changes = (
            "position = %s, seen_head = %s, attempts = 0, next_at = %s, lease_until = NULL, "
            "last_error = NULL"
        )
        params: tuple[Any, ...] = (row["position"] if page.last is None else page.last, seen, now)
        if status is not None:
            changes += ", last_status = %s, delivered_at = %s"
            params += (status, now)
        # Only fixed column names are formatted in, never values.
        self._write(row, f"UPDATE agent_webhooks SET {changes}", params)  # noqa: S608

    def _pause(self, row: Row, reason: str, head: int) -> None:
        """Looked at again once the log moves on (a resumption does), at most this often."""
        later = timestamp(self._clock.now() + PAUSED_RECHECK)
        self._write(
            row,
            "UPDATE agent_webhooks SET seen_head = %s, next_at = %s, lease_until = NULL, "
            "last_error = %s",
            (head, later, f"paused: {reason}"),
        )

    def _failed(self, row: Row, outcome: _Outcome) -> None:
        attempts = int(row["attempts"]) + 1
        delay = self._schedule[min(attempts, len(self._schedule)) - 1] * self._jitter()
        if outcome.retry_after is not None:
            delay = max(delay, min(timedelta(seconds=outcome.retry_after), MAX_RETRY_AFTER))
        self._write(
            row,
            "UPDATE agent_webhooks SET attempts = %s, next_at = %s, lease_until = NULL, "
            "last_status = %s, last_error = %s",
            (attempts, timestamp(self._clock.now() + delay), outcome.status, outcome.error),
        )

    def _write(self, row: Row, change: str, params: tuple[Any, ...]) -> None:
        """Only if the webhook is still the one leased (an admin may have changed it)."""
        with self._store.transaction() as cur:
            cur.execute(
                f"{change} WHERE agent_id = %s AND url = %s AND position = %s",
                (*params, row["agent_id"], row["url"], row["position"]),
            )
