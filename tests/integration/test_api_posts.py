"""Posts through the API: publishing, replying, editing, deleting, the timeline."""

from __future__ import annotations

import httpx
from api_helpers import (
    Headers,
    Json,
    assert_error,
    found,
    join,
    me,
    sign_up,
    timeline,
)


def publish(
    api: httpx.Client, slug: str, headers: Headers, content: str, in_reply_to: str | None = None
) -> Json:
    body: Json = {"content": content}
    if in_reply_to is not None:
        body["in_reply_to"] = in_reply_to
    answer = api.post(f"/api/v1/communities/{slug}/posts", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    post: Json = answer.json()
    assert (post["content"], post["community"], post["in_reply_to"]) == (content, slug, in_reply_to)
    # Read-your-writes: the author's next read of the timeline starts with it.
    assert timeline(api, slug, headers)[0]["id"] == post["id"]
    return post


def contents(api: httpx.Client, slug: str, headers: Headers | None = None) -> list[str]:
    return [p["content"] for p in timeline(api, slug, headers)]


def test_members_post_and_reply_and_the_timeline_shows_newest_first(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    bea = sign_up(api, "bea")
    assert join(api, "menders", bea) == "member"
    bea_id = me(api, bea)["id"]

    hello = publish(api, "menders", bea, "Hello, menders!")
    assert bea_id in hello["author"]
    assert hello["edited_at"] is None
    assert hello["url"].endswith(f"/posts/{hello['id']}")
    assert contents(api, "menders", bea) == ["Hello, menders!"]

    reply = publish(api, "menders", olga, "Welcome, Bea.", in_reply_to=hello["id"])
    assert contents(api, "menders", olga) == ["Welcome, Bea.", "Hello, menders!"]
    third = publish(api, "menders", bea, "Bring a screwdriver")
    posts = timeline(api, "menders", bea)
    assert [p["id"] for p in posts] == [third["id"], reply["id"], hello["id"]]
    assert [p["in_reply_to"] for p in posts] == [None, hello["id"], None]
    published = [p["published_at"] for p in posts]
    assert published == sorted(published, reverse=True)
    # The public timeline of a public community is readable without signing in.
    assert contents(api, "menders") == ["Bring a screwdriver", "Welcome, Bea.", "Hello, menders!"]


def test_only_the_author_edits_a_post(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    bea, cai = sign_up(api, "bea"), sign_up(api, "cai")
    for headers in (bea, cai):
        assert join(api, "menders", headers) == "member"
    post = publish(api, "menders", bea, "Meet at 7")

    edited = api.patch(f"/api/v1/posts/{post['id']}", json={"content": "Meet at 8"}, headers=bea)
    assert edited.status_code == 204, edited.text
    [seen] = timeline(api, "menders", bea)
    assert (seen["id"], seen["content"]) == (post["id"], "Meet at 8")
    assert seen["edited_at"] is not None
    assert seen["edited_at"] >= seen["published_at"]

    # Neither another member nor the owner edits someone else's words.
    for headers in (cai, olga):
        answer = api.patch(
            f"/api/v1/posts/{post['id']}", json={"content": "Cancelled!"}, headers=headers
        )
        assert_error(answer, 403, "forbidden")
    assert_error(
        api.patch(f"/api/v1/posts/{post['id']}", json={"content": "x"}), 401, "unauthenticated"
    )
    blank = api.patch(f"/api/v1/posts/{post['id']}", json={"content": "  "}, headers=bea)
    assert_error(blank, 422, "invalid_value")
    assert contents(api, "menders", bea) == ["Meet at 8"]


def test_moderators_and_authors_delete_and_deleted_posts_vanish(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    bea, cai, dan = (sign_up(api, name) for name in ("bea", "cai", "dan"))
    for headers in (bea, cai, dan):
        assert join(api, "menders", headers) == "member"
    cai_id = me(api, cai)["id"]
    promoted = api.patch(
        f"/api/v1/communities/menders/members/{cai_id}", json={"role": "moderator"}, headers=olga
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "moderator"

    spam = publish(api, "menders", bea, "Buy cheap watches")
    kept = publish(api, "menders", dan, "Thanks for yesterday")
    mine = publish(api, "menders", dan, "Oops, wrong group")

    # A plain member deletes nobody else's post.
    assert_error(api.delete(f"/api/v1/posts/{spam['id']}", headers=dan), 403, "forbidden")
    assert contents(api, "menders", dan) == [
        "Oops, wrong group",
        "Thanks for yesterday",
        "Buy cheap watches",
    ]

    deleted = api.delete(f"/api/v1/posts/{spam['id']}", headers=cai)
    assert deleted.status_code == 204, deleted.text
    assert [p["id"] for p in timeline(api, "menders", cai)] == [mine["id"], kept["id"]]

    own = api.delete(f"/api/v1/posts/{mine['id']}", headers=dan)
    assert own.status_code == 204, own.text
    assert [p["id"] for p in timeline(api, "menders", dan)] == [kept["id"]]

    # A deleted post is neither edited nor replied to, and deleting again is harmless.
    edit = api.patch(f"/api/v1/posts/{spam['id']}", json={"content": "Hi"}, headers=bea)
    assert_error(edit, 409, "post_deleted")
    reply = api.post(
        "/api/v1/communities/menders/posts",
        json={"content": "Where?", "in_reply_to": spam["id"]},
        headers=dan,
    )
    assert_error(reply, 409, "post_deleted")
    assert api.delete(f"/api/v1/posts/{spam['id']}", headers=cai).status_code == 204
    assert contents(api, "menders", dan) == ["Thanks for yesterday"]
    assert "Buy cheap watches" not in api.get("/api/v1/communities/menders/posts").text


def test_outsiders_cannot_post_in_a_private_community(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "secret", visibility="private")
    first = publish(api, "secret", olga, "Members only, please")
    bea = sign_up(api, "bea")

    answer = api.post("/api/v1/communities/secret/posts", json={"content": "Hi!"}, headers=bea)
    assert_error(answer, 404, "not_found")
    reply = api.post(
        "/api/v1/communities/secret/posts",
        json={"content": "Hi!", "in_reply_to": first["id"]},
        headers=bea,
    )
    assert_error(reply, 404, "not_found")
    assert_error(api.get("/api/v1/communities/secret/posts", headers=bea), 404, "not_found")
    assert_error(api.get("/api/v1/communities/secret/posts"), 404, "not_found")
    assert contents(api, "secret", olga) == ["Members only, please"]


def test_bad_posts_are_refused_and_not_stored(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    found(api, olga, "elsewhere")
    other = publish(api, "elsewhere", olga, "Over here")
    path = "/api/v1/communities/menders/posts"

    assert_error(api.post(path, json={"content": ""}, headers=olga), 422, "invalid_request")
    assert_error(api.post(path, json={"content": "  \n"}, headers=olga), 422, "invalid_value")
    assert_error(
        api.post(path, json={"content": "x" * 10_001}, headers=olga), 422, "invalid_request"
    )
    assert_error(
        api.post(path, json={"content": "Hi", "mood": "happy"}, headers=olga),
        422,
        "invalid_request",
    )
    assert_error(api.post(path, json={"content": "Hi"}), 401, "unauthenticated")
    # A reply stays in the community of its post.
    answer = api.post(path, json={"content": "Hi", "in_reply_to": other["id"]}, headers=olga)
    assert_error(answer, 422, "invalid_value")
    missing = "00000000-0000-4000-8000-000000000000"
    answer = api.post(path, json={"content": "Hi", "in_reply_to": missing}, headers=olga)
    assert_error(answer, 404, "not_found")
    assert_error(
        api.post("/api/v1/communities/nowhere/posts", json={"content": "Hi"}, headers=olga),
        404,
        "not_found",
    )
    assert contents(api, "menders", olga) == []
    assert contents(api, "elsewhere", olga) == ["Over here"]
    assert publish(api, "menders", olga, "x" * 10_000)["content"] == "x" * 10_000
