"""A person's export (issue 4): the zip through the API on both databases, what is in it and
what never is, resuming its download, the data summary, and memory as the history grows."""

from __future__ import annotations

import io
import json
import os
import time
import tracemalloc
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from api_helpers import (
    PASSWORD,
    Headers,
    Json,
    found,
    join,
    register,
    schedule,
    serve,
    sign_in,
)
from icalendar import Calendar

from conftest import test_settings as settings_for
from kunveno.adapters.portability.export import FILES, write_export
from kunveno.application.accounts import token_id
from kunveno.application.federation import Followable, RemoteFollower
from kunveno.bootstrap import Container, build
from kunveno.domain.community import Membership, Visibility
from kunveno.domain.gathering import GatheringDetails, JoinMode
from kunveno.projections.personal import PersonalData, topic_kind

ALICE = {"display_name": "Alice Lindqvist", "email": "alice.lindqvist@example.org"}
BOB = {"display_name": "Bob Zyxwvut", "email": "bob.zyxwvut@example.net"}
BOB_SAYS = "Bob's private musings, qwertyuiop"
ANONYMOUS_EMAIL = "anon.registrant@example.com"
FOLLOWER = "https://remote.example/users/carol"


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """A node whose data directory (where exports are kept) is the test's own."""
    container = build(settings_for(database_url, data_dir=tmp_path))
    yield container
    container.close()


@pytest.fixture
def api(node: Container) -> Iterator[httpx.Client]:
    with serve(node) as client:
        yield client


def account(api: httpx.Client, username: str, profile: dict[str, str]) -> tuple[Headers, str]:
    """Sign up with a display name and an email; the bearer header and the person's id."""
    body = {"username": username, "password": PASSWORD, **profile}
    created = api.post("/api/v1/accounts", json=body)
    assert created.status_code == 201, created.text
    return sign_in(api, username), str(created.json()["id"])


def publish(api: httpx.Client, headers: Headers, slug: str, content: str) -> str:
    answer = api.post(
        f"/api/v1/communities/{slug}/posts", json={"content": content}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def unzip(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def export(api: httpx.Client, headers: Headers) -> httpx.Response:
    answer = api.get("/api/v1/me/export", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def lines(files: dict[str, bytes]) -> list[Json]:
    return [json.loads(line) for line in files["events.jsonl"].decode().splitlines()]


def test_a_person_exports_all_of_theirs_and_nothing_of_anyone_else(
    api: httpx.Client, node: Container
) -> None:
    alice, alice_id = account(api, "alice", ALICE)
    found(api, alice, "menders")
    soldering = schedule(api, alice, "menders", title="Soldering evening", capacity=5)["id"]
    first = publish(api, alice, "menders", "First words from Alice")
    second = publish(api, alice, "menders", "A second thought")
    gone = publish(api, alice, "menders", "Oops, posted too soon")
    assert api.patch(
        f"/api/v1/posts/{second}", json={"content": "A second thought, edited"}, headers=alice
    ).is_success
    assert api.delete(f"/api/v1/posts/{gone}", headers=alice).is_success

    # Someone else, in the same community and the same gathering, and a gathering of theirs.
    bob, bob_id = account(api, "bob", BOB)
    assert join(api, "menders", bob) == "member"
    register(api, soldering, bob)
    publish(api, bob, "menders", BOB_SAYS)
    found(api, bob, "knitters")
    knitting = schedule(api, bob, "knitters", title="Knitting circle")["id"]
    # An anonymous registrant of Alice's gathering, and Alice registering for Bob's.
    register(api, soldering, email=ANONYMOUS_EMAIL)
    assert join(api, "knitters", alice) == "member"
    register(api, knitting, alice)
    # A remote follower of Alice (as the inbox records one).
    node.federation.follow(
        RemoteFollower(FOLLOWER, f"{FOLLOWER}/inbox", "https://remote.example/inbox"),
        Followable("person", UUID(alice_id), node.urls.person("alice")),
        "https://remote.example/activities/follow-1",
    )

    answer = export(api, alice)
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"] == 'attachment; filename="kunveno-alice.zip"'
    files = unzip(answer.content)
    assert sorted(files) == sorted(FILES)
    everything = b"\n".join(files.values())

    # The timeline: in log order, hers, and nobody else's.
    events = lines(files)
    positions = [event["position"] for event in events]
    assert positions == sorted(set(positions))
    topics = {event["topic"] for event in events}
    assert {
        "kunveno.person.registered",
        "kunveno.access_token.issued",
        "kunveno.community.founded",
        "kunveno.community.member_joined",
        "kunveno.gathering.scheduled",
        "kunveno.registration.submitted",
        "kunveno.gathering.registration_received",
        "kunveno.post.published",
        "kunveno.post.edited",
        "kunveno.post.deleted",
        "kunveno.follow.requested",
        "kunveno.follow.accepted",
    } <= topics
    assert {event["actor"] for event in events} == {
        f"person:{alice_id}",
        "system",
        f"remote:{FOLLOWER}",
    }
    assert not [e for e in events if e["actor"] == f"person:{bob_id}"]
    registered = next(e for e in events if e["topic"] == "kunveno.person.registered")
    assert (registered["payload"]["display_name"], registered["payload"]["email"]) == (
        ALICE["display_name"],
        ALICE["email"],
    )
    assert b"Oops, posted too soon" in files["events.jsonl"]  # her history, deleted or not

    # Never anyone else's data, nor any secret, anywhere in the zip.
    token = alice["Authorization"].removeprefix("Bearer ")
    for absent in (
        BOB["display_name"],
        BOB["email"],
        BOB_SAYS,
        bob_id,
        ANONYMOUS_EMAIL,
        "password_hash",
        "$argon2",
        "cancel_token",
        token,
        str(token_id(token)),
    ):
        assert absent.encode() not in everything, absent
    password_set = next(e for e in events if e["topic"] == "kunveno.person.password_set")
    assert (password_set["payload"], password_set["withheld"]) == (None, "secret")

    # The actor is the one peers read.
    actor = json.loads(files["actor.json"])
    published = api.get("/users/alice", headers={"Accept": "application/activity+json"}).json()
    assert actor == published
    assert (actor["type"], actor["name"]) == ("Person", ALICE["display_name"])

    # The outbox as a Mastodon archive has it: her live posts (as edited), her registration.
    outbox = json.loads(files["outbox.json"])
    assert (outbox["type"], outbox["totalItems"]) == ("OrderedCollection", 3)
    creates = [item for item in outbox["orderedItems"] if item["type"] == "Create"]
    assert [item["object"]["type"] for item in creates] == ["Note", "Note"]
    assert [item["object"]["id"] for item in creates] == [
        node.urls.post(first),
        node.urls.post(second),
    ]
    assert "A second thought, edited" in creates[1]["object"]["content"]
    assert all(item["actor"] == node.urls.person("alice") for item in outbox["orderedItems"])
    joins = [item for item in outbox["orderedItems"] if item["type"] == "Join"]
    assert [item["object"]["id"] for item in joins] == [node.urls.gathering(knitting)]

    # Both gatherings, the organised and the registered one, in a calendar that parses.
    calendar = Calendar.from_ical(files["gatherings.ics"])
    summaries = {str(event["summary"]) for event in calendar.walk("VEVENT")}
    assert summaries == {"Soldering evening", "Knitting circle"}

    communities = json.loads(files["communities.json"])
    roles = {m["community"]: m["role"] for m in communities["memberships"]}
    assert roles == {"menders": "owner", "knitters": "member"}
    registrations = json.loads(files["registrations.json"])["registrations"]
    assert [(r["gathering"]["name"], r["status"]) for r in registrations] == [
        ("Knitting circle", "confirmed")
    ]
    followers = json.loads(files["followers.json"])["followers"]
    assert [(f["actor"], f["status"]) for f in followers] == [(FOLLOWER, "accepted")]
    assert json.loads(files["following.json"])["following"] == []

    # The summary counts what the export holds.
    summary = api.get("/api/v1/me/data-summary", headers=alice)
    assert summary.status_code == 200, summary.text
    counts = summary.json()
    assert counts["events"] == len(events)
    assert counts["by_topic"] == dict(Counter(event["topic"] for event in events))
    assert counts["by_kind"] == dict(Counter(topic_kind(event["topic"]) for event in events))
    assert counts["holds"] == {
        "memberships": 2,
        "join_requests": 0,
        "registrations": 1,
        "gatherings_organised": 1,
        "posts": 2,
        "followers": 1,
        "following": 0,
    }

    # Bob's export has his registration for Alice's gathering, and nothing of Alice's.
    bobs = unzip(export(api, bob).content)
    assert [r["gathering"]["name"] for r in json.loads(bobs["registrations.json"])["registrations"]]
    bob_everything = b"\n".join(bobs.values())
    for absent in (ALICE["display_name"], ALICE["email"], "First words", ANONYMOUS_EMAIL):
        assert absent.encode() not in bob_everything, absent
    assert BOB_SAYS.encode() in bob_everything


def test_the_download_resumes_and_a_changed_history_is_a_new_file(api: httpx.Client) -> None:
    alice, _ = account(api, "alice", ALICE)
    found(api, alice, "menders")
    for n in range(30):
        publish(api, alice, "menders", f"Post number {n} " + "with some words " * n)

    whole = export(api, alice)
    body, etag = whole.content, whole.headers["etag"]
    assert whole.headers["accept-ranges"] == "bytes"
    assert int(whole.headers["content-length"]) == len(body)
    # Asked again with nothing new: the same file.
    assert export(api, alice).headers["etag"] == etag

    start = len(body) // 3
    for headers in ({"Range": f"bytes={start}-"}, {"Range": f"bytes={start}-", "If-Range": etag}):
        rest = api.get("/api/v1/me/export", headers={**alice, **headers})
        assert rest.status_code == 206, rest.text
        assert rest.headers["content-range"] == f"bytes {start}-{len(body) - 1}/{len(body)}"
        assert rest.content == body[start:]
    assert unzip(body[:start] + rest.content)["events.jsonl"]

    # Something new: a new export, and resuming the old one starts over.
    publish(api, alice, "menders", "One more")
    stale = api.get("/api/v1/me/export", headers={**alice, "Range": "bytes=10-", "If-Range": etag})
    assert stale.status_code == 200
    assert stale.headers["etag"] != etag
    assert b"One more" in unzip(stale.content)["events.jsonl"]


def test_export_files_are_private_to_the_node_and_swept_after_a_day(
    api: httpx.Client, tmp_path: Path
) -> None:
    alice, alice_id = account(api, "alice", ALICE)
    export(api, alice)
    exports = tmp_path / "exports"
    [kept] = list(exports.iterdir())
    assert kept.name.startswith(f"{alice_id}-")
    assert kept.suffix == ".zip"
    assert (exports.stat().st_mode & 0o777, kept.stat().st_mode & 0o777) == (0o700, 0o600)

    day_ago = time.time() - 25 * 3600
    os.utime(kept, (day_ago, day_ago))
    bob, _ = account(api, "bob", BOB)
    export(api, bob)  # anyone's request sweeps what is older than a day
    assert not kept.exists()
    assert len(list(exports.iterdir())) == 1


def test_export_and_summary_need_a_signed_in_person(api: httpx.Client) -> None:
    for path in ("/api/v1/me/export", "/api/v1/me/data-summary"):
        answer = api.get(path)
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthenticated"


def details(title: str, *, approval: bool = False) -> GatheringDetails:
    start = datetime.now(UTC) + timedelta(days=3)
    return GatheringDetails(
        title=title,
        description="",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        timezone="Europe/Amsterdam",
        location=None,
        online_url=None,
        join_mode=JoinMode.APPROVAL if approval else JoinMode.FREE,
        anonymous_registration=False,
    )


def test_what_others_do_to_her_things_is_in_her_history_without_naming_them(
    node: Container, tmp_path: Path
) -> None:
    """An organiser's approval, a seat given when someone else leaves, a moderator's deletion,
    a peer's like and its undoing: about her things, so hers, yet never saying who of this node
    did them."""
    alice = node.accounts.register("alice", PASSWORD, "Alice Lindqvist", None).value
    bob = node.accounts.register("bob", PASSWORD, "Bob Zyxwvut", None).value
    carol = node.accounts.register("carol", PASSWORD, "Carol Qqq", None).value
    node.communities.found(
        bob,
        slug="knit",
        name="Knit",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.OPEN,
    )
    for person in (alice, carol):
        node.communities.join(person, "knit")

    approved = node.gatherings.schedule(bob, "knit", details("Approved", approval=True), 5).value
    mine = node.gatherings.register_person(alice, approved).value.registration_id
    node.gatherings.approve_registration(bob, approved, mine)
    full = node.gatherings.schedule(bob, "knit", details("Full"), 1).value
    seat = node.gatherings.register_person(carol, full).value.registration_id
    waiting = node.gatherings.register_person(alice, full).value
    assert waiting.status.value == "waitlisted"
    node.gatherings.cancel_registration(seat, person_id=carol, cancel_token=None)  # promotes her
    post = node.posts.publish(alice, "knit", "Deleted by a moderator", None).value
    node.posts.delete(bob, post)  # the owner moderates
    liker = "https://remote.example/users/dora"
    node.federation.react("like", liker, node.urls.post(str(post)), f"{liker}#like-1")
    node.federation.withdraw("like", liker, node.urls.post(str(post)))
    node.projections.catch_up()

    with (tmp_path / "alice.zip").open("wb") as sink:
        write_export(node, alice, sink)
    files = unzip((tmp_path / "alice.zip").read_bytes())
    events = lines(files)
    by_others = {(e["topic"], e["actor"]) for e in events if e["actor"] != f"person:{alice}"}
    assert by_others == {
        ("kunveno.gathering.registration_approved", "person"),
        ("kunveno.gathering.registration_promoted", "person"),
        ("kunveno.post.deleted", "person"),
        ("kunveno.reaction.reacted", f"remote:{liker}"),
        ("kunveno.reaction.withdrawn", f"remote:{liker}"),
    }
    assert [e["position"] for e in events] == sorted({e["position"] for e in events})
    everything = b"\n".join(files.values())
    for absent in (str(bob), str(carol), "Bob Zyxwvut", "Carol Qqq"):
        assert absent.encode() not in everything, absent

    # Read a page of three at a time, it is the same history; derived again, the same too.
    rows = list(PersonalData(node.read_store).events(str(alice)))
    assert list(PersonalData(node.read_store, page=3).events(str(alice))) == rows
    assert [row["position"] for row in rows] == [e["position"] for e in events]
    node.projections.rebuild(["personal_index"])
    assert list(PersonalData(node.read_store).events(str(alice))) == rows


# -- memory -------------------------------------------------------------------------------


def post_many(node: Container, person: UUID, count: int) -> None:
    """Posts written by many threads at once, so group commit saves them in batches."""

    def one(n: int) -> Any:
        return node.posts.publish(person, "chatter", f"post {n} of {person}", None)

    with ThreadPoolExecutor(max_workers=32) as pool:
        for _ in pool.map(one, range(count)):
            pass


def export_peak(node: Container, person: UUID, path: Path) -> tuple[int, int]:
    """The peak of memory allocated while exporting, and the events exported."""
    tracemalloc.start()
    try:
        with path.open("wb") as sink:
            events = write_export(node, person, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, events


@pytest.mark.slow
def test_memory_stays_flat_as_the_history_grows_tenfold(node: Container, tmp_path: Path) -> None:
    small = node.accounts.register("small", PASSWORD, None, None).value
    large = node.accounts.register("large", PASSWORD, None, None).value
    node.communities.found(
        small,
        slug="chatter",
        name="Chatter",
        summary="",
        visibility=Visibility.PUBLIC,
        membership=Membership.OPEN,
    )
    node.communities.join(large, "chatter")
    post_many(node, small, 2_000)
    post_many(node, large, 20_000)
    node.projections.catch_up()

    export_peak(node, small, tmp_path / "warm-up.zip")  # first-use costs are not history's
    peak_small, events_small = export_peak(node, small, tmp_path / "small.zip")
    peak_large, events_large = export_peak(node, large, tmp_path / "large.zip")

    assert events_small > 2_000
    assert events_large > 20_000
    assert peak_large < 3 * peak_small, (peak_small, peak_large)
    with zipfile.ZipFile(tmp_path / "large.zip") as archive:
        with archive.open("events.jsonl") as timeline:
            assert sum(1 for _ in timeline) == events_large
        outbox = json.loads(archive.read("outbox.json"))
        assert outbox["totalItems"] == 20_000
