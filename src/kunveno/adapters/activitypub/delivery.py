"""Sends the outbox's queued deliveries: signed, bounded, retried, and never twice on success.

A delivery is leased before it is sent (so two workers never send it at once), signed at send
time (a fresh ``Date``), and its outcome written back. The policy follows what the fediverse
deploys (SECURITY "Delivery", INTEROP §10.4): any 2xx is done; 410 marks the inbox gone;
other 4xx except 401, 408 and 429 are refused for good; everything else is retried on a
schedule of about two and a half days with ±20 % jitter, honouring ``Retry-After``. A host
that fails ten times in a row is paused for a minute (a circuit breaker) and tried again.
A crash after the peer's 2xx and before the write-back sends again: receivers dedupe by id.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kunveno.adapters.activitypub.blocks import Blocks
from kunveno.adapters.activitypub.documents import AP_MEDIA_TYPE
from kunveno.adapters.activitypub.fetching import FetchError, SafeHttp
from kunveno.adapters.activitypub.keys import KeyStore
from kunveno.adapters.activitypub.signatures import sign_request
from kunveno.adapters.scheduler import IntervalJob
from kunveno.application.ports import Clock
from kunveno.projections.store import ReadStore, Row, timestamp

log = logging.getLogger(__name__)

RETRY_SCHEDULE = tuple(
    timedelta(seconds=s)
    for s in (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 24 * 3600)
)
RETRYABLE_4XX = frozenset({401, 408, 429})
BREAKER_FAILURES = 10
BREAKER_PAUSE = timedelta(seconds=60)
LEASE = timedelta(seconds=60)
MAX_RETRY_AFTER = timedelta(hours=24)
HOSTS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fed_hosts (host TEXT PRIMARY KEY, failures INTEGER NOT NULL, "
    "paused_until TEXT)"
)
FAILURE_DAYS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fed_host_failure_days (host TEXT NOT NULL, day TEXT NOT NULL, "
    "PRIMARY KEY (host, day))"
)
# Mastodon's numbers: failures on seven distinct days make a host unavailable, until it
# answers again or sends us a signed activity.
UNAVAILABLE_AFTER_DAYS = 7
PER_HOST = 4  # concurrent requests to one host in a run
FAILING_REFRESH_SECONDS = 5.0
GONE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fed_gone_inboxes (inbox TEXT PRIMARY KEY, gone_at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class _RunFacts:
    gone: frozenset[str]
    unavailable: frozenset[str]
    bodies: dict[str, bytes]


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


@dataclass(frozen=True)
class Outcome:
    state: str  # delivered | pending (retry) | gone | abandoned
    status: int | None
    error: str | None
    retry_after: float | None = None


class DeliveryWorker:
    def __init__(
        self,
        store: ReadStore,
        http: SafeHttp,
        keys: KeyStore,
        clock: Clock,
        *,
        blocks: Blocks | None = None,
        batch: int = 64,
        concurrency: int = 8,
        interval: float = 1.0,
        jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2),
    ) -> None:
        self._store = store
        self._http = http
        self._keys = keys
        self._clock = clock
        self._blocks = blocks
        self._batch = batch
        self._interval = interval
        self._jitter = jitter
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="delivery")
        self._job_runner = IntervalJob("deliveries", interval, self._job)
        self._running = threading.Lock()
        self._failing_lock = threading.Lock()
        self._failing: tuple[float, frozenset[str]] = (0.0, frozenset())

    def setup(self) -> None:
        with self._store.transaction() as cur:
            cur.execute(HOSTS_SCHEMA)
            cur.execute(FAILURE_DAYS_SCHEMA)
            cur.execute(GONE_SCHEMA)

    # -- the scheduled job ------------------------------------------------------------------

    def start(self) -> None:
        self._job_runner.start()

    def stop(self) -> None:
        self._job_runner.stop()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def poke(self, position: int = 0) -> None:
        """New work may be queued: run the job now rather than at its next interval."""
        self._job_runner.run_soon()

    def _job(self) -> None:
        try:
            while self.run_due() == self._batch:
                pass
        except Exception:
            log.exception("delivery run failed; the next run retries")

    # -- one run ----------------------------------------------------------------------------

    def run_due(self) -> int:
        """Send every delivery due now (at most one batch); return how many were sent."""
        with self._running:
            now = self._clock.now()
            leased = self._lease(now)
            if not leased:
                return 0
            run = self._run_facts(leased)
            results = list(self._pool.map(lambda row: self._send(row, run), leased))
            for row, outcome in zip(leased, results, strict=True):
                self._record(row, outcome, self._clock.now())
            return len(leased)

    def _run_facts(self, leased: list[Row]) -> _RunFacts:
        """What every delivery of a run needs, read once for the run rather than per row."""
        inboxes = sorted({row["inbox"] for row in leased})
        hosts = sorted({row["host"] for row in leased})
        activities = sorted({row["activity_id"] for row in leased})
        # Only placeholders are formatted into these statements, never values.
        gone = self._store.query(
            f"SELECT inbox FROM fed_gone_inboxes WHERE inbox IN ({_marks(inboxes)})",  # noqa: S608
            inboxes,
        )
        unavailable = self._store.query(
            f"SELECT host FROM fed_host_failure_days WHERE host IN ({_marks(hosts)}) "  # noqa: S608
            "GROUP BY host HAVING COUNT(*) >= %s",
            [*hosts, UNAVAILABLE_AFTER_DAYS],
        )
        bodies = self._store.query(
            f"SELECT id, body FROM fed_activities WHERE id IN ({_marks(activities)})",  # noqa: S608
            activities,
        )
        return _RunFacts(
            gone=frozenset(row["inbox"] for row in gone),
            unavailable=frozenset(row["host"] for row in unavailable),
            bodies={row["id"]: row["body"].encode() for row in bodies},
        )

    def _lease(self, now: datetime) -> list[Row]:
        stamp = timestamp(now)
        candidates = self._store.query(
            "SELECT d.* FROM fed_deliveries d LEFT JOIN fed_hosts h ON h.host = d.host "
            "WHERE d.state = 'pending' AND d.next_at <= %s "
            "AND (d.lease_until IS NULL OR d.lease_until < %s) "
            "AND (h.paused_until IS NULL OR h.paused_until < %s) "
            "ORDER BY d.next_at, d.id LIMIT %s",
            (stamp, stamp, stamp, self._batch * PER_HOST),
        )
        leased: list[Row] = []
        per_host: Counter[str] = Counter()
        with self._store.transaction() as cur:
            for row in candidates:
                if per_host[row["host"]] >= PER_HOST or len(leased) >= self._batch:
                    continue  # one host must not take the whole run (or all its sockets)
                # Compare-and-set: another worker (process) may have leased it meanwhile.
                cur.execute(
                    "UPDATE fed_deliveries SET lease_until = %s WHERE id = %s "
                    "AND state = 'pending' AND (lease_until IS NULL OR lease_until < %s)",
                    (timestamp(now + LEASE), row["id"], stamp),
                )
                if cur.rowcount == 1:
                    leased.append(row)
                    per_host[row["host"]] += 1
        return leased

    def _send(self, row: Row, run: _RunFacts) -> Outcome:
        if self._blocks is not None and self._blocks.is_blocked(row["inbox"]):
            return Outcome("abandoned", None, "the inbox's domain is blocked here")
        if row["inbox"] in run.gone:
            return Outcome("gone", None, "the inbox answered 410 Gone before")
        if row["host"] in run.unavailable:
            return Outcome(
                "abandoned", None, f"the host failed on {UNAVAILABLE_AFTER_DAYS} days: unavailable"
            )
        try:
            body = run.bodies.get(row["activity_id"])
            if body is None:
                return Outcome("abandoned", None, "the activity is gone from the outbox")
            private_key = self._keys.key_pair(row["signer"]).private_key
            inbox = row["inbox"]

            def signer(
                method: str, url: str, data: bytes | None, _: dict[str, str]
            ) -> dict[str, str]:
                return sign_request(
                    method=method,
                    url=url,
                    body=data,
                    key_id=row["key_id"],
                    private_key=private_key,
                    now=self._clock.now(),
                    extra_headers={"Content-Type": AP_MEDIA_TYPE},
                )

            result = self._http.post(inbox, body, {"Content-Type": AP_MEDIA_TYPE}, signer=signer)
        except FetchError as error:
            return _outcome_of_error(error)
        return classify(result.status, result.retry_after)

    # -- writing the outcome back -----------------------------------------------------------

    def _record(self, row: Row, outcome: Outcome, now: datetime) -> None:
        attempts = int(row["attempts"]) + 1
        state, next_at = outcome.state, now
        if state == "pending":
            if attempts > len(RETRY_SCHEDULE):
                state = "abandoned"  # gave up after the whole schedule
            else:
                next_at = now + self._delay(attempts, outcome.retry_after)
        with self._store.transaction() as cur:
            cur.execute(
                "UPDATE fed_deliveries SET state = %s, attempts = %s, next_at = %s, "
                "lease_until = NULL, last_status = %s, last_error = %s WHERE id = %s",
                (state, attempts, timestamp(next_at), outcome.status, outcome.error, row["id"]),
            )
            if state == "gone":
                # The inbox is gone for good: nothing more is sent to it, now or later.
                cur.execute(
                    "INSERT INTO fed_gone_inboxes (inbox, gone_at) VALUES (%s, %s) "
                    "ON CONFLICT (inbox) DO NOTHING",
                    (row["inbox"], timestamp(now)),
                )
                cur.execute(
                    "UPDATE fed_deliveries SET state = 'gone' "
                    "WHERE inbox = %s AND state = 'pending'",
                    (row["inbox"],),
                )
            # A failed last attempt is still a failure of the host (the breaker counts it).
            failed = outcome.state == "pending"
            self._host_health(cur, row["host"], failed=failed, now=now)
        if failed:
            with self._failing_lock:
                self._failing = self._failing[0], self._failing[1] | {row["host"]}

    def _delay(self, attempts: int, retry_after: float | None) -> timedelta:
        scheduled = RETRY_SCHEDULE[attempts - 1] * self._jitter()
        if retry_after is not None:
            scheduled = max(scheduled, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
        return scheduled

    def is_unavailable(self, host: str) -> bool:
        rows = self._store.query(
            "SELECT COUNT(*) AS n FROM fed_host_failure_days WHERE host = %s", (host,)
        )
        return int(rows[0]["n"]) >= UNAVAILABLE_AFTER_DAYS

    def revive(self, host: str) -> None:
        """The host spoke to us (a verified activity): it is available again."""
        if host not in self._failing_hosts():
            return  # the common case: a healthy host, nothing to write
        with self._failing_lock:
            self._failing = self._failing[0], self._failing[1] - {host}
        with self._store.transaction() as cur:
            cur.execute("DELETE FROM fed_host_failure_days WHERE host = %s", (host,))
            cur.execute("DELETE FROM fed_hosts WHERE host = %s", (host,))

    def _failing_hosts(self) -> frozenset[str]:
        """Hosts with failures on record, re-read every few seconds (asked per inbox POST)."""
        with self._failing_lock:
            expires, hosts = self._failing
        if time.monotonic() < expires:
            return hosts
        rows = self._store.query(
            "SELECT host FROM fed_hosts UNION SELECT host FROM fed_host_failure_days"
        )
        hosts = frozenset(row["host"] for row in rows)
        with self._failing_lock:
            self._failing = time.monotonic() + FAILING_REFRESH_SECONDS, hosts
        return hosts

    @staticmethod
    def _host_health(cur: Any, host: str, *, failed: bool, now: datetime) -> None:
        if not failed:
            cur.execute("DELETE FROM fed_hosts WHERE host = %s", (host,))
            cur.execute("DELETE FROM fed_host_failure_days WHERE host = %s", (host,))
            return
        cur.execute(
            "INSERT INTO fed_host_failure_days (host, day) VALUES (%s, %s) "
            "ON CONFLICT (host, day) DO NOTHING",
            (host, now.date().isoformat()),
        )
        cur.execute(
            "INSERT INTO fed_hosts (host, failures, paused_until) VALUES (%s, 1, NULL) "
            "ON CONFLICT (host) DO UPDATE SET failures = fed_hosts.failures + 1",
            (host,),
        )
        cur.execute(
            "UPDATE fed_hosts SET paused_until = %s, failures = 0 "
            "WHERE host = %s AND failures >= %s",
            (timestamp(now + BREAKER_PAUSE), host, BREAKER_FAILURES),
        )

    # -- for operators and tests ------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        rows = self._store.query(
            "SELECT state, COUNT(*) AS n FROM fed_deliveries GROUP BY state ORDER BY state"
        )
        return {row["state"]: int(row["n"]) for row in rows}


def classify(status: int, retry_after: float | None) -> Outcome:
    if 200 <= status < 300:
        return Outcome("delivered", status, None)
    if status == 410:
        return Outcome("gone", status, "the inbox answered 410 Gone")
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return Outcome("abandoned", status, f"the inbox refused it ({status})")
    return Outcome("pending", status, f"the inbox answered {status}", retry_after)


def _outcome_of_error(error: FetchError) -> Outcome:
    if error.code in ("address_refused", "scheme_refused", "url_invalid"):
        return Outcome("abandoned", None, f"{error.code}: {error.detail}")
    if error.code == "gone":
        return Outcome("gone", 410, error.detail)
    return Outcome("pending", error.status, f"{error.code}: {error.detail}")
