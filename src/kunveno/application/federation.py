"""What remote actors do to us, once their activity is verified and recorded.

Every command here is idempotent: the inbox processor follows the log at least once, so a
replayed Follow, Join or Leave must find its effect already there and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock
from kunveno.domain.actor import Actor
from kunveno.domain.blocklist import BLOCKLIST_ID, Blocklist
from kunveno.domain.community import Community, Membership, Visibility
from kunveno.domain.errors import AlreadyRegistered, NotFound, PermissionDenied
from kunveno.domain.follow import Follow, FollowStatus
from kunveno.domain.gathering import Gathering, RegistrationStatus
from kunveno.domain.inbound import InboundActivity
from kunveno.domain.post import Post
from kunveno.domain.reaction import Reaction
from kunveno.domain.registration import Registration


@dataclass(frozen=True)
class RemoteNote:
    """What we take of a remote Note: its id, plain-text content, and the post it answers
    (one of ours, or a remote post we hold, by our id for it)."""

    url: str
    content: str
    in_reply_to: UUID | None


def remote_post_id(note_url: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"remote post {note_url}")


@dataclass(frozen=True)
class RemoteFollower:
    """A verified remote actor, with where to deliver to it."""

    actor_url: str
    inbox: str
    shared_inbox: str | None


# The node's own (instance) actor, as the followed side of a follow.
INSTANCE_ID = uuid5(NAMESPACE_URL, "kunveno instance actor")


@dataclass(frozen=True)
class Followable:
    """One of our actors that can be followed: a community or a person."""

    kind: str  # "community", "person" or "instance"
    id: UUID
    url: str


class FederationService:
    def __init__(self, log: EventLog, commands: CommandBus, clock: Clock) -> None:
        self._log = log
        self._commands = commands
        self._clock = clock

    # -- the inbox record -----------------------------------------------------------------

    def record_inbound(
        self, *, activity_id: str, activity_type: str, actor_url: str, signer: str, payload: Any
    ) -> Outcome[bool]:
        """Record a verified activity; ``False`` when it was recorded before (a replay)."""
        record_id = InboundActivity.id_for(activity_id)
        attempts = 0

        def decide() -> Decision[bool]:
            nonlocal attempts
            attempts += 1
            # Optimistic: a new activity is the common case, and its id collides in the store
            # if it is not new; only then (the bus tries again) is it worth looking.
            if attempts > 1 and self._log.exists(record_id):
                return [], False
            inbound = InboundActivity.receive(
                activity_id=activity_id,
                activity_type=activity_type,
                actor_url=actor_url,
                signer=signer,
                payload=payload,
                at=self._clock.now(),
            )
            return [inbound], True

        return self._commands.run(decide)

    def refuse_inbound(
        self, activity_id: str, code: str, detail: str, *, reply_inbox: str | None = None
    ) -> Outcome[None]:
        def decide() -> Decision[None]:
            inbound = self._log.load(
                InboundActivity, InboundActivity.id_for(activity_id), "activity"
            )
            inbound.refuse(code, detail, reply_inbox=reply_inbox, at=self._clock.now())
            return [inbound], None

        return self._commands.run(decide)

    # -- follows ----------------------------------------------------------------------------

    def follow(
        self, follower: RemoteFollower, target: Followable, activity_id: str
    ) -> Outcome[FollowStatus]:
        """Open public communities and people accept at once; others wait for an admin;
        a members-only community refuses followers (they would receive what members see)."""
        follow_id = Follow.id_for(follower.actor_url, target.url)

        def decide() -> Decision[FollowStatus]:
            now = self._clock.now()
            if self._log.exists(follow_id):
                follow = self._log.load(Follow, follow_id, "follow")
                follow.request_again(
                    activity_id=activity_id,
                    inbox=follower.inbox,
                    shared_inbox=follower.shared_inbox,
                    at=now,
                )
            else:
                follow = Follow.request(
                    follower=follower.actor_url,
                    followed=target.url,
                    followed_kind=target.kind,
                    followed_id=target.id,
                    activity_id=activity_id,
                    inbox=follower.inbox,
                    shared_inbox=follower.shared_inbox,
                    at=now,
                )
            if follow.status is FollowStatus.PENDING:
                self._decide_at_once(follow, target, now)
            return [follow], follow.status

        return self._commands.run(decide)

    def _decide_at_once(self, follow: Follow, target: Followable, now: Any) -> None:
        if target.kind != "community":
            follow.accept(actor=Actor.system(), at=now)
            return
        community = self._log.load(Community, target.id, "community")
        if community.visibility is Visibility.PRIVATE:
            follow.reject(actor=Actor.system(), at=now)
        elif community.membership is Membership.OPEN:
            follow.accept(actor=Actor.system(), at=now)

    def unfollow(self, follower_url: str, target_url: str) -> Outcome[bool]:
        follow_id = Follow.id_for(follower_url, target_url)

        def decide() -> Decision[bool]:
            if not self._log.exists(follow_id):
                return [], False
            follow = self._log.load(Follow, follow_id, "follow")
            follow.end(actor=Actor.remote(follower_url), at=self._clock.now())
            return [follow], True

        return self._commands.run(decide)

    def decide_follow(
        self, by: UUID, community_id: UUID, follower_url: str, target_url: str, *, accept: bool
    ) -> Outcome[FollowStatus]:
        """An admin's answer to a pending follow of an approval community."""
        follow_id = Follow.id_for(follower_url, target_url)

        def decide() -> Decision[FollowStatus]:
            community = self._log.load(Community, community_id, "community")
            community.require_admin(by)
            follow = self._log.load(Follow, follow_id, "follow request")
            if follow.followed_id != community_id:
                raise NotFound("no such follow request")
            now = self._clock.now()
            if accept:
                follow.accept(actor=Actor.person(by), at=now)
            else:
                follow.reject(actor=Actor.person(by), at=now)
            return [follow], follow.status

        return self._commands.run(decide)

    # -- posts from remote members of the conversation (FEP-1b12) ----------------------------

    def receive_post(
        self,
        *,
        community_id: UUID,
        community_url: str,
        author_url: str,
        note: RemoteNote,
        activity_id: str,
    ) -> Outcome[bool]:
        """A remote Note addressed to a public community, from one of its accepted followers."""
        post_id = remote_post_id(note.url)

        def decide() -> Decision[bool]:
            if self._log.exists(post_id):
                return [], False  # a replay (or the same note by another route)
            community = self._log.load(Community, community_id, "community")
            if community.visibility is Visibility.PRIVATE:
                raise NotFound("no such community")
            follow_id = Follow.id_for(author_url, community_url)
            if not self._log.exists(follow_id) or (
                self._log.load(Follow, follow_id, "follow").status is not FollowStatus.ACCEPTED
            ):
                raise PermissionDenied("only the community's followers post to it")
            replied = None
            if note.in_reply_to is not None and self._log.exists(note.in_reply_to):
                replied = self._log.load(Post, note.in_reply_to, "post")
            post = Post.receive(
                post_id=post_id,
                community_id=community_id,
                content=note.content,
                in_reply_to=replied,
                author_url=author_url,
                object_url=note.url,
                activity_id=activity_id,
                at=self._clock.now(),
            )
            return [post], True

        return self._commands.run(decide)

    def change_remote_post(
        self, note_url: str, author_url: str, content: str | None
    ) -> Outcome[bool]:
        """An Update (``content``) or Delete (``None``) of a remote post, by its author only."""
        post_id = remote_post_id(note_url)

        def decide() -> Decision[bool]:
            if not self._log.exists(post_id):
                return [], False
            post = self._log.load(Post, post_id, "post")
            actor = Actor.remote(author_url)
            if content is None:
                post.delete(actor=actor, moderator=False, at=self._clock.now())
            else:
                post.edit(content, actor=actor, at=self._clock.now())
            return [post], True

        return self._commands.run(decide)

    def delete_posts_of(self, author_url: str, post_ids: list[UUID]) -> Outcome[int]:
        """A deleted remote actor's posts here go with it (each by its author, so a post of
        someone else in the list is refused, not deleted)."""

        def decide() -> Decision[int]:
            actor = Actor.remote(author_url)
            posts = [self._log.load(Post, post_id, "post") for post_id in post_ids]
            mine = [p for p in posts if p.author == str(actor) and not p.deleted]
            for post in mine:
                post.delete(actor=actor, moderator=False, at=self._clock.now())
            return list(mine), len(mine)

        return self._commands.run(decide)

    # -- likes and boosts -------------------------------------------------------------------

    def react(self, kind: str, actor_url: str, object_url: str, activity_id: str) -> Outcome[None]:
        """A Like or Announce of one of our things; a repeat counts once."""
        reaction_id = Reaction.id_for(kind, actor_url, object_url)

        def decide() -> Decision[None]:
            now = self._clock.now()
            if self._log.exists(reaction_id):
                reaction = self._log.load(Reaction, reaction_id, "reaction")
                reaction.renew(activity_id, at=now)
            else:
                reaction = Reaction.react(
                    kind=kind,
                    actor_url=actor_url,
                    object_url=object_url,
                    activity_id=activity_id,
                    at=now,
                )
            return [reaction], None

        return self._commands.run(decide)

    def withdraw(self, kind: str, actor_url: str, object_url: str) -> Outcome[None]:
        reaction_id = Reaction.id_for(kind, actor_url, object_url)

        def decide() -> Decision[None]:
            if not self._log.exists(reaction_id):
                return [], None
            reaction = self._log.load(Reaction, reaction_id, "reaction")
            reaction.withdraw(at=self._clock.now())
            return [reaction], None

        return self._commands.run(decide)

    # -- blocks -------------------------------------------------------------------------------

    def block(self, kind: str, value: str, reason: str, actor: Actor) -> Outcome[bool]:
        return self._blocklist(lambda b, now: b.block(kind, value, reason, actor=actor, at=now))

    def unblock(self, kind: str, value: str, actor: Actor) -> Outcome[bool]:
        return self._blocklist(
            lambda b, now: b.unblock(kind, value, actor=actor, at=now), start=False
        )

    def _blocklist(
        self, change: Callable[[Blocklist, datetime], bool], *, start: bool = True
    ) -> Outcome[bool]:
        def decide() -> Decision[bool]:
            now = self._clock.now()
            if self._log.exists(BLOCKLIST_ID):
                blocklist = self._log.load(Blocklist, BLOCKLIST_ID, "blocklist")
            elif not start:
                return [], False  # nothing was ever blocked
            else:
                blocklist = Blocklist.start(actor=Actor.system(), at=now)
            changed = change(blocklist, now)
            return [blocklist], changed

        return self._commands.run(decide)

    # -- registrations from remote actors ---------------------------------------------------

    def join(
        self,
        follower: RemoteFollower,
        gathering_id: UUID,
        activity_id: str,
        message: str | None,
    ) -> Outcome[RegistrationStatus]:
        # Named by the Join, so a replayed Join finds its registration even after a Leave.
        registration_id = uuid5(NAMESPACE_URL, f"join {activity_id}")
        participant = str(Actor.remote(follower.actor_url))

        def decide() -> Decision[RegistrationStatus]:
            gathering = self._log.load(Gathering, gathering_id, "gathering")
            community = self._log.load(Community, gathering.community_id, "community")
            if community.visibility is Visibility.PRIVATE:
                raise NotFound("no such gathering")  # invisible to outsiders (I-9)
            if self._log.exists(registration_id):
                return [], gathering.status_of(registration_id)  # a replay
            if participant in gathering.participants:
                raise AlreadyRegistered("already registered for this gathering")
            now = self._clock.now()
            registration = Registration.for_remote(
                registration_id=registration_id,
                gathering_id=gathering_id,
                actor_url=follower.actor_url,
                join_activity_id=activity_id,
                inbox=follower.inbox,
                message=message,
                at=now,
            )
            status = gathering.register(
                registration_id, participant, actor=Actor.remote(follower.actor_url), at=now
            )
            return [registration, gathering], status

        return self._commands.run(decide)

    def leave(self, actor_url: str, gathering_id: UUID) -> Outcome[bool]:
        participant = str(Actor.remote(actor_url))

        def decide() -> Decision[bool]:
            gathering = self._log.load(Gathering, gathering_id, "gathering")
            existing = gathering.participants.get(participant)
            if existing is None:
                return [], False  # never joined, or left already: nothing to undo
            gathering.cancel_registration(
                UUID(existing), actor=Actor.remote(actor_url), at=self._clock.now()
            )
            return [gathering], True

        return self._commands.run(decide)
