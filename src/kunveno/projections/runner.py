"""Follows the notification log and folds it into every read model, a page at a time.

One design for both databases: the library's subscriptions do not work on SQLite, so the
runner polls, and a local save pokes it awake so the writer's own read does not wait for the
next poll. Each projection's page of writes and its new position commit in one transaction;
the position update is a compare-and-set, so two runners (two server processes) never apply
the same event twice: the loser rolls back and re-reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from kunveno.domain.base import DomainEvent
from kunveno.projections.base import Projection
from kunveno.projections.store import ReadStore, Writes

log = logging.getLogger(__name__)

PAGE_SIZE = 500
TRACKING_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rm_tracking (name TEXT PRIMARY KEY, "
    "version INTEGER NOT NULL, position BIGINT NOT NULL)"
)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


class ProjectionRunner:
    def __init__(
        self,
        log_app: Application[UUID],
        store: ReadStore,
        projections: Sequence[Projection],
        *,
        poll_interval: float = 0.25,
    ) -> None:
        self._log = log_app
        self._store = store
        self._projections = {p.name: p for p in projections}
        self._poll_interval = poll_interval
        self._positions: dict[str, int] = {}
        self._changed = threading.Condition()
        self._woken = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._step_lock = threading.Lock()
        # Called with the new position after a page commits (e.g. to wake a worker).
        self.on_advance: Callable[[int], None] | None = None
        # Called with the event classes of a page after it commits (e.g. to drop a cache).
        self.after_fold: Callable[[set[type]], None] | None = None

    # -- schema and tracking --------------------------------------------------------------

    def setup(self) -> None:
        """Create tables; a projection whose version changed is dropped and derived again."""
        with self._store.transaction() as cur:
            cur.execute(TRACKING_SCHEMA)
            cur.execute("SELECT name, version FROM rm_tracking")
            versions = {row["name"]: row["version"] for row in cur.fetchall()}
            for projection in self._projections.values():
                stored = versions.get(projection.name)
                if stored is not None and stored != projection.version:
                    for table in projection.tables:
                        cur.execute(f"DROP TABLE IF EXISTS {table}")
                    cur.execute("DELETE FROM rm_tracking WHERE name = %s", (projection.name,))
                    stored = None
                for statement in projection.schema:
                    cur.execute(statement)
                if stored is None:
                    cur.execute(
                        "INSERT INTO rm_tracking (name, version, position) VALUES (%s, %s, 0) "
                        "ON CONFLICT (name) DO NOTHING",
                        (projection.name, projection.version),
                    )
        self._reload_positions()

    def _reload_positions(self) -> None:
        rows = self._store.query("SELECT name, position FROM rm_tracking")
        found = {row["name"]: int(row["position"]) for row in rows}
        with self._changed:
            self._positions = {name: found.get(name, 0) for name in self._projections}
            self._changed.notify_all()

    def head(self) -> int:
        return self._log.recorder.max_notification_id() or 0

    def status(self) -> list[Status]:
        self._reload_positions()
        head = self.head()
        return [Status(name, pos, head) for name, pos in sorted(self._positions.items())]

    @property
    def names(self) -> list[str]:
        return list(self._projections)

    # -- folding --------------------------------------------------------------------------

    def step(self) -> int:
        """Fold the next page of the log into every projection behind; return events read."""
        with self._step_lock:
            start = min(self._positions.values(), default=0)
            notifications = self._log.recorder.select_notifications(
                start=start + 1, limit=PAGE_SIZE
            )
            if not notifications:
                return 0
            events = [(n.id, self._log.mapper.to_domain_event(n)) for n in notifications]
            last = notifications[-1].id
            behind = [p for name, p in self._projections.items() if self._positions[name] < last]
            self._fold(behind, events, last)
            return len(events)

    def _fold(
        self, projections: list[Projection], events: Sequence[tuple[int, Any]], last: int
    ) -> None:
        """One transaction for the page: every view's writes and every tracking row."""
        writes = Writes()
        for projection in projections:
            projection.prepare(last)
            position = self._positions[projection.name]
            for notification_id, event in events:
                if notification_id > position and isinstance(event, DomainEvent):
                    writes.position = notification_id
                    projection.apply(event, writes)
        with self._store.transaction() as cur:
            # Compare-and-set of every position at once: if another runner moved one, its
            # row does not match, the count is short, and the whole page rolls back.
            cur.executemany(
                "UPDATE rm_tracking SET position = %s WHERE name = %s AND position = %s",
                [(last, p.name, self._positions[p.name]) for p in projections],
            )
            if cur.rowcount != len(projections):
                raise _Overtaken(", ".join(p.name for p in projections))
            with cur.pipeline():
                writes.flush(cur)
        with self._changed:
            for projection in projections:
                self._positions[projection.name] = last
            self._changed.notify_all()
        if self.on_advance is not None:
            self.on_advance(last)
        if self.after_fold is not None:
            self.after_fold({type(event) for _, event in events})

    def catch_up(self, progress: Progress | None = None) -> None:
        head = self.head()
        while True:
            try:
                read = self.step()
            except _Overtaken:
                self._reload_positions()
                continue
            if progress is not None:
                position = min(self._positions.values(), default=head)
                progress("projections", min(position, head), head)
            if read == 0:
                return

    def rebuild(self, names: Sequence[str] | None = None, progress: Progress | None = None) -> None:
        """Empty the named projections (all by default) and derive them again from zero."""
        chosen = list(names) if names else list(self._projections)
        unknown = [name for name in chosen if name not in self._projections]
        if unknown:
            raise KeyError(", ".join(unknown))
        with self._step_lock, self._store.transaction() as cur:
            for name in chosen:
                # Dropped and created again rather than emptied row by row: as fast on both
                # databases, and it leaves PostgreSQL no dead rows to vacuum.
                for table in self._projections[name].tables:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in self._projections[name].schema:
                    cur.execute(statement)
                cur.execute("UPDATE rm_tracking SET position = 0 WHERE name = %s", (name,))
        self._reload_positions()
        self.catch_up(progress)

    # -- waiting and the background loop --------------------------------------------------

    def wait(self, position: int, timeout: float = 5.0) -> bool:
        """Block until every projection has folded ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while min(self._positions.values(), default=0) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._thread is None:
                    self._changed.release()
                    try:
                        self.catch_up()
                    finally:
                        self._changed.acquire()
                else:
                    self._woken = True  # the runner may be between polls: fold now
                    self._changed.notify_all()
                    self._changed.wait(remaining)
        return True

    def poke(self, position: int = 0) -> None:
        """A save reached ``position``: fold now rather than at the next poll.

        The position is not needed to wake the loop; it is accepted so the command bus can
        call any ``(position) -> None`` hook after a save.
        """
        with self._changed:
            self._woken = True
            self._changed.notify_all()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="projections", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.poke()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                read = self.step()
                failures = 0
            except _Overtaken:
                self._reload_positions()
                continue
            except Exception:
                failures += 1
                log.exception("projection step failed (attempt %d); retrying", failures)
                time.sleep(min(30.0, 0.5 * 2**failures))
                self._safe_reload()
                continue
            if read < PAGE_SIZE:
                with self._changed:
                    if not self._woken:
                        self._changed.wait(self._poll_interval)
                    self._woken = False

    def _safe_reload(self) -> None:
        try:
            self._reload_positions()
        except Exception:
            log.exception("could not reload projection positions")


class _Overtaken(Exception):
    """Another runner advanced this projection first; our page was rolled back."""
