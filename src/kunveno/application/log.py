"""The one event log of a node, and the bounded-retry way every command is saved to it.

Commands are functions that load fresh aggregates, decide, and return the changed ones; a
stale save (another writer got there first) raises the library's ``IntegrityError`` and the
whole command runs again on fresh state, a bounded number of times.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from kunveno.application.errors import ConcurrencyConflict
from kunveno.domain.errors import NotFound

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

MAX_ATTEMPTS = 8


class EventLog(Application[UUID]):
    """All aggregates of the node in one log, so one notification log orders every fact."""

    name = "kunveno"
    # The library's default of 10 caps NotificationLog.select(); projections read pages of 500.
    log_section_size = 500
    # A gathering's stream grows with every registration: without a cache each command would
    # replay it all. The cache fast-forwards from the store on every get (safe with several
    # processes) and hands out deep copies, so a failed save never pollutes it.
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000"}

    def load(self, aggregate_class: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no such {what}") from None
        if not isinstance(aggregate, aggregate_class):
            raise NotFound(f"no such {what}")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.repository


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What a command answered, and the log position a reader must reach to see it."""

    value: R
    position: int


Decision = tuple[list[Any], R]


class CommandBus:
    """Runs commands against the log with optimistic concurrency and a bounded retry."""

    def __init__(self, log: EventLog, after_save: Callable[[int], None] | None = None) -> None:
        self.log = log
        self._after_save = after_save
        # Writers of one application are serialised by the store's table lock anyway; deciding
        # one command at a time in this process avoids stale saves between its own threads, so
        # optimistic retries are left for writers in other processes.
        self._writing = threading.Lock()

    def run(self, decide: Callable[[], Decision[R]]) -> Outcome[R]:
        with self._writing:
            return self._run(decide)

    def _run(self, decide: Callable[[], Decision[R]]) -> Outcome[R]:
        for attempt in range(MAX_ATTEMPTS):
            aggregates, value = decide()
            changed = [a for a in aggregates if a.pending_events]
            if not changed:
                return Outcome(value, 0)
            try:
                recordings = self.log.save(*changed)
            except IntegrityError:
                # Another writer saved first: back off a little, then decide again on fresh state.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            position = max(r.notification.id for r in recordings)
            if self._after_save is not None:
                self._after_save(position)
            return Outcome(value, position)
        raise ConcurrencyConflict("too many concurrent changes; please try again")
