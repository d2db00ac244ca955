"""The one event log of a node, and the command bus that writes to it with group commit.

Commands are functions that load aggregates, decide, and return the changed ones with an
answer. One writer thread per process takes every waiting command, decides them one after
the other on shared in-memory aggregates (so the second registration of a batch sees the
seat the first one took) and saves the whole batch in one transaction: one table lock, one
insert, one fsync for many commands. A command that raises is answered with its error and,
if it had already changed an aggregate, the batch is decided again without it. A stale save
(another process wrote first) makes each command of the batch run again alone on fresh state,
a bounded number of times.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from kunveno.application.errors import ConcurrencyConflict
from kunveno.application.unit_of_work import UnitOfWork, WriterCache
from kunveno.domain.errors import NotFound
from kunveno.domain.pii import PII

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

# Measured: 12 processes x 2 writers on one gathering exhausted 8 attempts with a flat backoff;
# 12 attempts with a growing, capped backoff kept every registration.
MAX_ATTEMPTS = 12
MAX_BATCH = 64


class EventLog(Application[UUID]):
    """All aggregates of the node in one log, so one notification log orders every fact."""

    name = "kunveno"
    # The library's default of 10 caps NotificationLog.select(); projections read pages of 500.
    log_section_size = 500

    def __init__(
        self, env: dict[str, str] | None = None, *, pii: Transcoding | None = None
    ) -> None:
        # Set before the library builds its mapper, which asks for the transcodings.
        self._pii = pii or UnencryptedPII()
        super().__init__(env=env)
        self._local = threading.local()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(self._pii)

    @contextmanager
    def working_in(self, unit: UnitOfWork) -> Iterator[None]:
        """Loads in this thread go through ``unit`` (the command writer's batch)."""
        self._local.unit = unit
        try:
            yield
        finally:
            self._local.unit = None

    def load(self, aggregate_class: type[A], aggregate_id: UUID, what: str) -> A:
        unit: UnitOfWork | None = getattr(self._local, "unit", None)
        try:
            aggregate: Aggregate = (
                self.repository.get(aggregate_id) if unit is None else unit.get(aggregate_id)
            )
        except AggregateNotFoundError:
            raise NotFound(f"no such {what}") from None
        if not isinstance(aggregate, aggregate_class):
            raise NotFound(f"no such {what}")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        unit: UnitOfWork | None = getattr(self._local, "unit", None)
        return aggregate_id in self.repository if unit is None else unit.contains(aggregate_id)


class UnencryptedPII(Transcoding):
    """PII kept as plain values: only for logs that never hold real people's data (unit tests,
    tools). A node always passes the encrypting transcoding (adapters.persistence.pii)."""

    type = PII
    name = "pii"

    def encode(self, obj: PII) -> dict[str, Any]:
        return {"s": obj.subject.hex, "v": obj.value}

    def decode(self, data: dict[str, Any]) -> PII:
        return PII(UUID(data["s"]), data.get("v"))


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What a command answered, and the log position a reader must reach to see it."""

    value: R
    position: int


Decision = tuple[list[Any], R]


class _Ticket:
    """One waiting command and, once the writer is done with it, its answer or error."""

    def __init__(self, decide: Callable[[], Decision[Any]]) -> None:
        self.decide = decide
        self.value: Any = None
        self.position = 0
        self.error: BaseException | None = None
        self.done = threading.Event()

    def succeed(self, value: Any, position: int) -> None:
        self.value, self.position = value, position
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class CommandBus:
    """Runs commands against the log: group commit, optimistic concurrency, bounded retry."""

    def __init__(self, log: EventLog, after_save: Callable[[int], None] | None = None) -> None:
        self.log = log
        self.after_save = after_save
        self._cache = WriterCache(log)
        self._queue: queue.SimpleQueue[_Ticket | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._starting = threading.Lock()

    def run(self, decide: Callable[[], Decision[R]]) -> Outcome[R]:
        if threading.current_thread() is self._writer:
            raise RuntimeError("a command cannot run another command")
        self._ensure_writer()
        ticket = _Ticket(decide)
        self._queue.put(ticket)
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        return Outcome(ticket.value, ticket.position)

    def waiting(self) -> int:
        """Commands queued and not yet taken by the writer."""
        return self._queue.qsize()

    def close(self) -> None:
        writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout=10)
            self._writer = None

    def _ensure_writer(self) -> None:
        with self._starting:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="commands")
                self._writer.daemon = True
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    ticket = self._queue.get_nowait()
                except queue.Empty:
                    break
                if ticket is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(ticket)
            try:
                self._commit(batch)
            except BaseException as error:  # never leave a caller waiting forever
                for ticket in batch:
                    if not ticket.done.is_set():
                        ticket.fail(error)

    def _commit(self, batch: Sequence[_Ticket], attempt: int = 0) -> None:
        unit = UnitOfWork(self._cache)
        with self.log.working_in(unit):
            decided = self._decide(batch, unit)
        changed = unit.changed()
        if not changed:
            for ticket, value in decided:
                ticket.succeed(value, 0)
            return
        try:
            recordings = self.log.save(*changed)
        except IntegrityError:
            unit.discard()
            self._retry([ticket for ticket, _ in decided], attempt)
            return
        except BaseException:
            unit.discard()
            raise
        unit.saved()
        position = max(r.notification.id for r in recordings)
        if self.after_save is not None:
            self.after_save(position)
        for ticket, value in decided:
            ticket.succeed(value, position)

    def _decide(self, batch: Sequence[_Ticket], unit: UnitOfWork) -> list[tuple[_Ticket, Any]]:
        """Decide each command on the batch's shared aggregates; drop the ones that fail."""
        decided: list[tuple[_Ticket, Any]] = []
        for ticket in batch:
            marks = unit.marks()
            try:
                aggregates, value = ticket.decide()
            except Exception as error:
                ticket.fail(error)
                if unit.changed_since(marks):
                    # It changed state before failing: decide the others again without it.
                    unit.discard()
                    return self._decide([t for t, _ in decided] + _after(batch, ticket), unit)
                continue
            unit.track(aggregates)
            decided.append((ticket, value))
        return decided

    def _retry(self, tickets: list[_Ticket], attempt: int) -> None:
        if attempt + 1 >= MAX_ATTEMPTS:
            for ticket in tickets:
                ticket.fail(ConcurrencyConflict("too many concurrent changes; please try again"))
            return
        # Another process saved first: back off a little, then each command alone, fresh.
        time.sleep(random.uniform(0, min(0.25, 0.005 * 2**attempt)))
        for ticket in tickets:
            self._commit([ticket], attempt + 1)


def _after(batch: Sequence[_Ticket], ticket: _Ticket) -> list[_Ticket]:
    return list(batch[batch.index(ticket) + 1 :])
