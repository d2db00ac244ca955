"""An activity a peer delivered to us, recorded before we answer 202.

Its id is derived from the activity's id, so a second delivery of the same activity (a retry,
the same post reaching the shared and a personal inbox) collides in the event store and is a
no-op: the inbox is idempotent by construction (SECURITY I-7). What the activity does is
decided later, from the log, by the inbox processor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate


class InboundActivity(KunvenoAggregate):
    TOPIC = "kunveno.inbound"

    activity_id: str
    activity_type: str
    payload: dict[str, Any]
    refused: str | None

    class Received(CreationEvent):
        TOPIC = "kunveno.inbound.received"
        activity_id: str
        activity_type: str
        signer: str
        payload: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.activity_id = self.activity_id
            aggregate.activity_type = self.activity_type
            aggregate.payload = self.payload
            aggregate.refused = None

    class Refused(DomainEvent):
        """Processing refused the activity (unknown target, a rule of the domain); audited,
        and for a Join answered with a Reject."""

        TOPIC = "kunveno.inbound.refused"
        code: str
        detail: str
        reply_inbox: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.refused = self.code

    @staticmethod
    def id_for(activity_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"inbound {activity_id}")

    @classmethod
    def receive(
        cls,
        *,
        activity_id: str,
        activity_type: str,
        actor_url: str,
        signer: str,
        payload: dict[str, Any],
        at: datetime,
    ) -> InboundActivity:
        return cls._start(
            cls.Received,
            id=cls.id_for(activity_id),
            actor=Actor.remote(actor_url),
            at=at,
            activity_id=activity_id,
            activity_type=activity_type,
            signer=signer,
            payload=payload,
        )

    def refuse(self, code: str, detail: str, *, reply_inbox: str | None, at: datetime) -> None:
        """``reply_inbox``: where to send a Reject, when the sender expects an answer.
        Refusing again (a replayed page of the processor) changes nothing."""
        if self.refused is not None:
            return
        self._record(
            self.Refused,
            actor=Actor.system(),
            at=at,
            code=code,
            detail=detail[:500],
            reply_inbox=reply_inbox,
        )
