"""The aggregates one batch of commands works on, and the writer's cache of them.

Only the command writer thread touches these objects, so they are handed out without the
deep copies the library's shared cache would need; anything a failed batch may have changed is
evicted, so the cache only ever holds states that are in the log.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate


class WriterCache:
    """Recently used aggregates, fast-forwarded from the store on every use.

    Fast-forwarding (one indexed read of newer events) keeps it right when other processes
    write to the same log.
    """

    def __init__(self, log: Application[UUID], max_size: int = 2000) -> None:
        self._log = log
        self._max_size = max_size
        self._aggregates: OrderedDict[UUID, Aggregate] = OrderedDict()

    def get(self, aggregate_id: UUID) -> Aggregate:
        aggregate = self._aggregates.pop(aggregate_id, None)
        if aggregate is None:
            aggregate = self._log.repository.get(aggregate_id)
        else:
            for event in self._log.events.get(aggregate_id, gt=aggregate.version):
                aggregate = cast(Aggregate, cast(Any, event).mutate(aggregate))
        self.put(aggregate)
        return aggregate

    def put(self, aggregate: Aggregate) -> None:
        self._aggregates[aggregate.id] = aggregate
        self._aggregates.move_to_end(aggregate.id)
        while len(self._aggregates) > self._max_size:
            self._aggregates.popitem(last=False)

    def evict(self, aggregate_id: UUID) -> None:
        self._aggregates.pop(aggregate_id, None)


class UnitOfWork:
    """Aggregates loaded or created by the commands of one batch, one instance per id."""

    def __init__(self, cache: WriterCache) -> None:
        self._cache = cache
        self._aggregates: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID) -> Aggregate:
        aggregate = self._aggregates.get(aggregate_id)
        if aggregate is None:
            aggregate = self._cache.get(aggregate_id)
            self._aggregates[aggregate_id] = aggregate
        return aggregate

    def contains(self, aggregate_id: UUID) -> bool:
        if aggregate_id in self._aggregates:
            return True
        try:
            self.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    def track(self, aggregates: list[Any]) -> None:
        for aggregate in aggregates:
            self._aggregates[aggregate.id] = aggregate

    def marks(self) -> dict[UUID, int]:
        """How many unsaved events each aggregate has, to tell if a command changed any."""
        return {key: len(a.pending_events) for key, a in self._aggregates.items()}

    def changed_since(self, marks: dict[UUID, int]) -> bool:
        return any(
            len(a.pending_events) != marks.get(key, 0) for key, a in self._aggregates.items()
        )

    def changed(self) -> list[Aggregate]:
        return [a for a in self._aggregates.values() if a.pending_events]

    def saved(self) -> None:
        for aggregate in self._aggregates.values():
            self._cache.put(aggregate)

    def discard(self) -> None:
        for aggregate_id in self._aggregates:
            self._cache.evict(aggregate_id)
        self._aggregates.clear()
