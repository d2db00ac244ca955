"""What a projection is: a name, a schema version, its tables, and a handler per event type.

Handlers only add statements to ``Writes``; the runner applies a whole page of them and the
new tracking position in one transaction, so a crash leaves a view exactly at a page boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from kunveno.domain.base import DomainEvent
from kunveno.projections.store import Writes

Handler = Callable[[Any, Any, Writes], None]
F = TypeVar("F", bound=Callable[..., None])


def handles(*event_classes: type[DomainEvent]) -> Callable[[F], F]:
    def mark(method: F) -> F:
        method._handles = event_classes  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    name: ClassVar[str]
    # Bump when the tables or what is folded into them change: the runner rebuilds it then.
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[str, ...]]
    schema: ClassVar[tuple[str, ...]]
    _handlers: ClassVar[dict[type, Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for attribute in vars(cls).values():
            for event_class in getattr(attribute, "_handles", ()):
                cls._handlers[event_class] = attribute

    def prepare(self, last: int) -> None:
        """Called before a page up to position ``last`` is folded (a hook; most need none)."""

    def apply(self, event: DomainEvent, writes: Writes) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, event, writes)
