"""Post: publishing, replying, editing and deleting, as given-when-then on the aggregate."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from kunveno.domain.actor import Actor
from kunveno.domain.errors import InvalidValue, PermissionDenied, PostDeleted
from kunveno.domain.pii import reveal
from kunveno.domain.post import MAX_CONTENT, Post

NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
COMMUNITY = UUID(int=0xC0)
ELSEWHERE = UUID(int=0xC1)
AUTHOR = Actor.person(UUID(int=0xA0))
SOMEONE_ELSE = Actor.person(UUID(int=0xA1))


def publish(
    content: str = "Hello", community_id: UUID = COMMUNITY, in_reply_to: Post | None = None
) -> Post:
    return Post.publish(
        post_id=UUID(int=0x50 + (in_reply_to is not None)),
        community_id=community_id,
        content=content,
        in_reply_to=in_reply_to,
        actor=AUTHOR,
        at=NOW,
    )


def published(content: str = "Hello", community_id: UUID = COMMUNITY) -> Post:
    post = publish(content, community_id)
    post.collect_events()
    return post


def test_publishing_records_the_author_and_content() -> None:
    post = publish("Hello, menders")

    [event] = post.collect_events()
    assert isinstance(event, Post.Published)
    assert (event.community_id, reveal(event.content), event.in_reply_to) == (
        COMMUNITY,
        "Hello, menders",
        None,
    )
    assert post.author == str(AUTHOR)


def test_a_reply_in_the_same_community_points_at_its_post() -> None:
    parent = published()

    reply = publish("Indeed", in_reply_to=parent)

    [event] = reply.collect_events()
    assert isinstance(event, Post.Published)
    assert event.in_reply_to == parent.id


def test_a_reply_to_a_post_of_another_community_is_refused() -> None:
    parent = published(community_id=ELSEWHERE)

    with pytest.raises(InvalidValue):
        publish("Indeed", in_reply_to=parent)


def test_a_reply_to_a_deleted_post_is_refused() -> None:
    parent = published()
    parent.delete(actor=AUTHOR, moderator=False, at=NOW)

    with pytest.raises(PostDeleted):
        publish("Indeed", in_reply_to=parent)


@pytest.mark.parametrize("content", ["", "  \n ", "x" * (MAX_CONTENT + 1)], ids=repr)
def test_empty_or_overlong_content_is_refused(content: str) -> None:
    with pytest.raises(InvalidValue):
        publish(content)


def test_the_author_edits() -> None:
    post = published()

    post.edit("Hello again", actor=AUTHOR, at=NOW)

    [event] = post.collect_events()
    assert isinstance(event, Post.Edited)
    assert post.content == "Hello again"


def test_an_edit_by_someone_else_is_refused() -> None:
    post = published()

    with pytest.raises(PermissionDenied):
        post.edit("Hijacked", actor=SOMEONE_ELSE, at=NOW)
    assert post.collect_events() == []
    assert post.content == "Hello"


def test_an_edit_to_empty_content_is_refused() -> None:
    with pytest.raises(InvalidValue):
        published().edit(" ", actor=AUTHOR, at=NOW)


def test_the_author_deletes() -> None:
    post = published()

    post.delete(actor=AUTHOR, moderator=False, at=NOW)

    [event] = post.collect_events()
    assert isinstance(event, Post.Deleted)
    assert (post.deleted, post.content) == (True, "")


def test_a_moderator_deletes_someone_elses_post() -> None:
    post = published()

    post.delete(actor=SOMEONE_ELSE, moderator=True, at=NOW)

    [event] = post.collect_events()
    assert isinstance(event, Post.Deleted)
    assert event.actor == str(SOMEONE_ELSE)


def test_deletion_by_someone_else_who_is_no_moderator_is_refused() -> None:
    post = published()

    with pytest.raises(PermissionDenied):
        post.delete(actor=SOMEONE_ELSE, moderator=False, at=NOW)
    assert not post.deleted


def test_deleting_twice_records_nothing() -> None:
    post = published()
    post.delete(actor=AUTHOR, moderator=False, at=NOW)
    post.collect_events()

    post.delete(actor=AUTHOR, moderator=False, at=NOW)

    assert post.collect_events() == []


def test_a_deleted_post_cannot_be_edited() -> None:
    post = published()
    post.delete(actor=AUTHOR, moderator=False, at=NOW)
    post.collect_events()

    with pytest.raises(PostDeleted):
        post.edit("Back from the dead", actor=AUTHOR, at=NOW)
    assert post.collect_events() == []
