"""Our own thin base over the ``eventsourcing`` aggregate, so a library upgrade stays local.

Every stored event carries its ``actor`` and a ``timestamp`` given by the application (the
domain has no clock). Topics are explicit strings (``kunveno.<aggregate>.<event>``) so modules
can move without breaking the stored log; ``class_version`` plus ``upcast_vN_vN+1`` evolve them.
Decide, then record: public methods check rules and call ``_record``; an event's ``apply`` only
assigns and never fails, because it runs again on every replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate

from kunveno.domain.actor import Actor


class DomainEvent(Aggregate.Event):
    """Base of every stored event: who did it, and (inherited) when."""

    actor: str

    def apply(self, aggregate: Any) -> None:
        """Assign the event's effect to the aggregate (overridden by each event)."""


class CreationEvent(DomainEvent, Aggregate.Created):
    """Base of the first event of every aggregate."""


def _assign_nothing(self: Any) -> None:
    pass


class KunvenoAggregate(Aggregate):
    """Base aggregate: explicit topics, events recorded with an actor and a given time."""

    class Event(DomainEvent):
        pass

    class Created(CreationEvent):
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "__init__" not in cls.__dict__:
            # Annotated attributes would make the library generate a dataclass __init__;
            # our state is assigned by the creation event's ``apply`` instead.
            cls.__init__ = _assign_nothing  # type: ignore[method-assign]
        topic = cls.__dict__.get("TOPIC")
        if topic and "Created" not in cls.__dict__:
            # The library derives a ``Created`` class per aggregate and, with an explicit
            # aggregate topic, insists it has one too; we name it here rather than in each class.
            created = type("Created", (KunvenoAggregate.Created,), {"TOPIC": f"{topic}.created"})
            created.__qualname__ = f"{cls.__qualname__}.Created"
            cls.Created = created  # type: ignore[assignment,misc]
        super().__init_subclass__(**kwargs)

    @classmethod
    def _start(
        cls,
        event_class: type[CreationEvent],
        *,
        id: UUID,
        actor: Actor,
        at: datetime,
        **attrs: Any,
    ) -> Self:
        return cls._create(event_class, id=id, actor=str(actor), timestamp=at, **attrs)

    def _record(
        self, event_class: type[DomainEvent], *, actor: Actor, at: datetime, **attrs: Any
    ) -> None:
        self.trigger_event(event_class, actor=str(actor), timestamp=at, **attrs)
