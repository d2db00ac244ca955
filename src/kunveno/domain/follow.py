"""A follow between a remote actor and one of ours (a community or a person).

One stream per pair, addressed by a name-based id, so a repeated Follow finds the same stream
and a replayed one changes nothing. The follower's inboxes are kept with the follow because
deliveries are derived from the log: a rebuild must not need the remote actor to be online.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.domain.actor import Actor
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import Conflict


class FollowStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ENDED = "ended"


class Follow(KunvenoAggregate):
    TOPIC = "kunveno.follow"

    follower: str
    followed: str
    followed_kind: str
    followed_id: UUID
    activity_id: str
    inbox: str
    shared_inbox: str | None
    status: FollowStatus

    class Requested(CreationEvent):
        TOPIC = "kunveno.follow.requested"
        follower: str
        followed: str
        followed_kind: str
        followed_id: UUID
        activity_id: str
        inbox: str
        shared_inbox: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.follower = self.follower
            aggregate.followed = self.followed
            aggregate.followed_kind = self.followed_kind
            aggregate.followed_id = self.followed_id
            aggregate._renew(self.activity_id, self.inbox, self.shared_inbox)

    class RequestedAgain(DomainEvent):
        TOPIC = "kunveno.follow.requested_again"
        activity_id: str
        inbox: str
        shared_inbox: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._renew(self.activity_id, self.inbox, self.shared_inbox)

    class Accepted(DomainEvent):
        TOPIC = "kunveno.follow.accepted"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = FollowStatus.ACCEPTED

    class Rejected(DomainEvent):
        TOPIC = "kunveno.follow.rejected"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = FollowStatus.REJECTED

    class Ended(DomainEvent):
        TOPIC = "kunveno.follow.ended"

        def apply(self, aggregate: Any) -> None:
            aggregate.status = FollowStatus.ENDED

    def _renew(self, activity_id: str, inbox: str, shared_inbox: str | None) -> None:
        self.activity_id = activity_id
        self.inbox = inbox
        self.shared_inbox = shared_inbox
        self.status = FollowStatus.PENDING

    @staticmethod
    def id_for(follower: str, followed: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"follow {follower} {followed}")

    @classmethod
    def request(
        cls,
        *,
        follower: str,
        followed: str,
        followed_kind: str,
        followed_id: UUID,
        activity_id: str,
        inbox: str,
        shared_inbox: str | None,
        at: datetime,
    ) -> Follow:
        return cls._start(
            cls.Requested,
            id=cls.id_for(follower, followed),
            actor=Actor.remote(follower),
            at=at,
            follower=follower,
            followed=followed,
            followed_kind=followed_kind,
            followed_id=followed_id,
            activity_id=activity_id,
            inbox=inbox,
            shared_inbox=shared_inbox,
        )

    def request_again(
        self, *, activity_id: str, inbox: str, shared_inbox: str | None, at: datetime
    ) -> bool:
        """A new Follow of the same pair: a no-op when it is the same activity or still live."""
        if activity_id == self.activity_id or self.status is FollowStatus.ACCEPTED:
            return False
        self._record(
            self.RequestedAgain,
            actor=Actor.remote(self.follower),
            at=at,
            activity_id=activity_id,
            inbox=inbox,
            shared_inbox=shared_inbox,
        )
        return True

    def accept(self, *, actor: Actor, at: datetime) -> None:
        if self.status is FollowStatus.ACCEPTED:
            return
        if self.status is not FollowStatus.PENDING:
            raise Conflict("only a pending follow request can be accepted")
        self._record(self.Accepted, actor=actor, at=at)

    def reject(self, *, actor: Actor, at: datetime) -> None:
        if self.status in (FollowStatus.REJECTED, FollowStatus.ENDED):
            return
        self._record(self.Rejected, actor=actor, at=at)

    def end(self, *, actor: Actor, at: datetime) -> None:
        """Undo by the follower (or their actor's deletion); ending twice changes nothing."""
        if self.status in (FollowStatus.ENDED, FollowStatus.REJECTED):
            return
        self._record(self.Ended, actor=actor, at=at)
