"""A community: its profile, who belongs to it and with which role, and who asks to join.

Roles rank owner > admin > moderator > member. Admins change roles, moderators approve and
remove members and organise gatherings, and a community always keeps at least one owner.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any
from uuid import UUID

from kunveno.domain.actor import Actor
from kunveno.domain.agent import Agent, Scope
from kunveno.domain.base import CreationEvent, DomainEvent, KunvenoAggregate
from kunveno.domain.errors import (
    Conflict,
    InvalidValue,
    LastOwnerCannotLeave,
    NotMember,
    PermissionDenied,
)

MAX_NAME = 100
MAX_SUMMARY = 2000


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class Membership(StrEnum):
    OPEN = "open"
    APPROVAL = "approval"
    INVITE = "invite"


class Role(IntEnum):
    MEMBER = 1
    MODERATOR = 2
    ADMIN = 3
    OWNER = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Role:
        try:
            return cls[label.upper()]
        except KeyError:
            raise InvalidValue(f"unknown role {label!r}") from None


class JoinOutcome(StrEnum):
    MEMBER = "member"
    PENDING = "pending"


def check_community_text(name: str, summary: str) -> tuple[str, str]:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidValue(f"a community name has 1-{MAX_NAME} characters")
    if len(summary) > MAX_SUMMARY:
        raise InvalidValue(f"a summary has at most {MAX_SUMMARY} characters")
    return name, summary.strip()


class Community(KunvenoAggregate):
    TOPIC = "kunveno.community"

    slug: str
    name: str
    summary: str
    visibility: Visibility
    membership: Membership
    roles: dict[str, int]
    pending: list[str]
    invited: list[str]

    class Founded(CreationEvent):
        TOPIC = "kunveno.community.founded"
        slug: str
        name: str
        summary: str
        visibility: str
        membership: str
        owner_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.slug = self.slug
            aggregate.name = self.name
            aggregate.summary = self.summary
            aggregate.visibility = Visibility(self.visibility)
            aggregate.membership = Membership(self.membership)
            aggregate.roles = {str(self.owner_id): Role.OWNER.value}
            aggregate.pending = []
            aggregate.invited = []

    class DetailsChanged(DomainEvent):
        TOPIC = "kunveno.community.details_changed"
        name: str
        summary: str
        visibility: str
        membership: str

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name
            aggregate.summary = self.summary
            aggregate.visibility = Visibility(self.visibility)
            aggregate.membership = Membership(self.membership)

    class MemberJoined(DomainEvent):
        TOPIC = "kunveno.community.member_joined"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            key = str(self.person_id)
            aggregate.roles[key] = Role.MEMBER.value
            _discard(aggregate.pending, key)
            _discard(aggregate.invited, key)

    class JoinRequested(DomainEvent):
        TOPIC = "kunveno.community.join_requested"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.pending.append(str(self.person_id))

    class JoinApproved(DomainEvent):
        TOPIC = "kunveno.community.join_approved"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            key = str(self.person_id)
            _discard(aggregate.pending, key)
            aggregate.roles[key] = Role.MEMBER.value

    class JoinRejected(DomainEvent):
        TOPIC = "kunveno.community.join_rejected"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            _discard(aggregate.pending, str(self.person_id))

    class Invited(DomainEvent):
        TOPIC = "kunveno.community.invited"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.invited.append(str(self.person_id))

    class MemberLeft(DomainEvent):
        TOPIC = "kunveno.community.member_left"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.roles.pop(str(self.person_id), None)

    class MemberRemoved(DomainEvent):
        TOPIC = "kunveno.community.member_removed"
        person_id: UUID

        def apply(self, aggregate: Any) -> None:
            aggregate.roles.pop(str(self.person_id), None)

    class RoleChanged(DomainEvent):
        TOPIC = "kunveno.community.role_changed"
        person_id: UUID
        role: str

        def apply(self, aggregate: Any) -> None:
            aggregate.roles[str(self.person_id)] = Role.from_label(self.role).value

    # -- creation and profile -------------------------------------------------------------

    @classmethod
    def found(
        cls,
        *,
        community_id: UUID,
        slug: str,
        name: str,
        summary: str,
        visibility: Visibility,
        membership: Membership,
        owner_id: UUID,
        at: datetime,
    ) -> Community:
        name, summary = check_community_text(name, summary)
        return cls._start(
            cls.Founded,
            id=community_id,
            actor=Actor.person(owner_id),
            at=at,
            slug=slug,
            name=name,
            summary=summary,
            visibility=visibility.value,
            membership=membership.value,
            owner_id=owner_id,
        )

    def change_details(
        self,
        *,
        by: UUID,
        name: str,
        summary: str,
        visibility: Visibility,
        membership: Membership,
        at: datetime,
    ) -> None:
        self._require_role(by, Role.ADMIN, "change the community's details")
        name, summary = check_community_text(name, summary)
        self._record(
            self.DetailsChanged,
            actor=Actor.person(by),
            at=at,
            name=name,
            summary=summary,
            visibility=visibility.value,
            membership=membership.value,
        )

    # -- queries on the decided state -----------------------------------------------------

    def role_of(self, person_id: UUID) -> Role | None:
        value = self.roles.get(str(person_id))
        return None if value is None else Role(value)

    def is_member(self, person_id: UUID) -> bool:
        return str(person_id) in self.roles

    def is_pending(self, person_id: UUID) -> bool:
        return str(person_id) in self.pending

    def can_organise(self, person_id: UUID) -> bool:
        role = self.role_of(person_id)
        return role is not None and role >= Role.MODERATOR

    def require_organiser(self, person_id: UUID) -> None:
        self._require_role(person_id, Role.MODERATOR, "organise gatherings")

    def require_admin(self, person_id: UUID) -> None:
        self._require_role(person_id, Role.ADMIN, "answer follow requests")

    def require_may_post(self, person_id: UUID) -> None:
        if self.visibility is Visibility.PRIVATE and not self.is_member(person_id):
            raise PermissionDenied("only members post in a members-only community")

    def require_may_see(self, person_id: UUID | None) -> None:
        if self.visibility is Visibility.PRIVATE and (
            person_id is None or not self.is_member(person_id)
        ):
            raise PermissionDenied("this community is visible to its members only")

    def _owners(self) -> list[str]:
        return [key for key, value in self.roles.items() if value == Role.OWNER.value]

    def _require_role(self, person_id: UUID, role: Role, doing: str) -> None:
        actual = self.role_of(person_id)
        if actual is None or actual < role:
            raise PermissionDenied(f"only a {role.label} or above may {doing}")

    # -- membership -----------------------------------------------------------------------

    def join(self, person_id: UUID, *, at: datetime) -> JoinOutcome:
        """Join, or ask to join; asking again answers the same outcome and records nothing."""
        if self.is_member(person_id):
            return JoinOutcome.MEMBER
        actor = Actor.person(person_id)
        if self.membership is Membership.OPEN or str(person_id) in self.invited:
            # An invitation lets in at once, even someone whose request is still pending.
            self._record(self.MemberJoined, actor=actor, at=at, person_id=person_id)
            return JoinOutcome.MEMBER
        if self.is_pending(person_id):
            return JoinOutcome.PENDING
        if self.membership is Membership.INVITE:
            raise PermissionDenied("this community takes members by invitation only")
        self._record(self.JoinRequested, actor=actor, at=at, person_id=person_id)
        return JoinOutcome.PENDING

    def invite(self, person_id: UUID, *, by: UUID, at: datetime) -> None:
        self._require_role(by, Role.MODERATOR, "invite people")
        if self.is_member(person_id):
            raise Conflict("already a member")
        if str(person_id) not in self.invited:
            self._record(self.Invited, actor=Actor.person(by), at=at, person_id=person_id)

    def approve(self, person_id: UUID, *, by: UUID | Agent, at: datetime) -> None:
        actor = self._moderator(by, "approve members")
        if not self.is_pending(person_id):
            raise Conflict("there is no pending request from this person")
        self._record(self.JoinApproved, actor=actor, at=at, person_id=person_id)

    def reject(self, person_id: UUID, *, by: UUID | Agent, at: datetime) -> None:
        actor = self._moderator(by, "reject requests")
        if not self.is_pending(person_id):
            raise Conflict("there is no pending request from this person")
        self._record(self.JoinRejected, actor=actor, at=at, person_id=person_id)

    def _moderator(self, by: UUID | Agent, doing: str) -> Actor:
        """A moderator (or above), or an agent of this community with moderation:write."""
        if isinstance(by, Agent):
            by.require(Scope.MODERATION_WRITE, self.id)
            return by.actor
        self._require_role(by, Role.MODERATOR, doing)
        return Actor.person(by)

    def leave(self, person_id: UUID, *, at: datetime) -> None:
        role = self.role_of(person_id)
        if role is None:
            raise NotMember("not a member of this community")
        if role is Role.OWNER and len(self._owners()) == 1:
            raise LastOwnerCannotLeave("the last owner cannot leave: make another owner first")
        self._record(self.MemberLeft, actor=Actor.person(person_id), at=at, person_id=person_id)

    def remove(self, person_id: UUID, *, by: UUID, at: datetime) -> None:
        self._require_role(by, Role.MODERATOR, "remove members")
        target = self.role_of(person_id)
        if target is None:
            raise NotMember("not a member of this community")
        if target >= (self.role_of(by) or Role.MEMBER):
            raise PermissionDenied("only someone of a higher role may remove this member")
        self._record(self.MemberRemoved, actor=Actor.person(by), at=at, person_id=person_id)

    def change_role(self, person_id: UUID, role: Role, *, by: UUID, at: datetime) -> None:
        self._require_role(by, Role.ADMIN, "change roles")
        current = self.role_of(person_id)
        if current is None:
            raise NotMember("not a member of this community")
        if current == role:
            return
        if Role.OWNER in (role, current) and self.role_of(by) is not Role.OWNER:
            raise PermissionDenied("only an owner may make or unmake owners")
        if current is Role.OWNER and len(self._owners()) == 1:
            raise LastOwnerCannotLeave("the last owner cannot step down: make another owner first")
        self._record(
            self.RoleChanged, actor=Actor.person(by), at=at, person_id=person_id, role=role.label
        )


def _discard(items: list[str], key: str) -> None:
    if key in items:
        items.remove(key)
