"""Posting in a community: publishing, replying, editing, deleting."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from kunveno.application.callers import Caller, as_caller
from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock
from kunveno.domain.agent import Scope
from kunveno.domain.community import Community
from kunveno.domain.errors import NotFound
from kunveno.domain.post import Post


class PostService:
    def __init__(
        self,
        log: EventLog,
        commands: CommandBus,
        clock: Clock,
        community_for_slug: Callable[[str], Community],
    ) -> None:
        self._log = log
        self._commands = commands
        self._clock = clock
        self._community_for_slug = community_for_slug

    def publish(
        self, by: UUID | Caller, slug: str, content: str, in_reply_to: UUID | None
    ) -> Outcome[UUID]:
        post_id = uuid4()
        caller = as_caller(by)

        def decide() -> Decision[UUID]:
            community = self._community_for_slug(slug)
            caller.may_post(community)
            parent = None if in_reply_to is None else self._load(in_reply_to)
            post = Post.publish(
                post_id=post_id,
                community_id=community.id,
                content=content,
                in_reply_to=parent,
                actor=caller.actor,
                at=self._clock.now(),
            )
            return [post], post_id

        return self._commands.run(decide)

    def edit(self, by: UUID | Caller, post_id: UUID, content: str) -> Outcome[None]:
        caller = as_caller(by)

        def decide() -> Decision[None]:
            post = self._load(post_id)
            if caller.agent is not None:
                caller.agent.require(Scope.POSTS_WRITE, post.community_id)
            post.edit(content, actor=caller.actor, at=self._clock.now())
            return [post], None

        return self._commands.run(decide)

    def delete(self, by: UUID | Caller, post_id: UUID) -> Outcome[None]:
        caller = as_caller(by)

        def decide() -> Decision[None]:
            post = self._load(post_id)
            community = self._log.load(Community, post.community_id, "community")
            if caller.agent is not None and str(caller.actor) != post.author:
                # Another's post: only as a moderator.
                caller.agent.require(Scope.MODERATION_WRITE, community.id)
            elif caller.agent is not None:
                caller.agent.require(Scope.POSTS_WRITE, community.id)
            moderator = caller.moderates(community)
            post.delete(actor=caller.actor, moderator=moderator, at=self._clock.now())
            return [post], None

        return self._commands.run(decide)

    def _load(self, post_id: UUID) -> Post:
        try:
            return self._log.load(Post, post_id, "post")
        except NotFound:
            raise NotFound("no such post") from None
