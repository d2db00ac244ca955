"""The real payloads other servers send, replayed against a real node: each has its effect.

``test_fixtures_parse.py`` shows every recorded payload in ``shared/fixtures/activitypub`` is
read; here the ones a peer would address to us are sent to a served node by a loopback peer,
signed, and what they should do is checked through the API, the node's queries and what the
peer hears back. A payload keeps its recorded shape and fields: ``rebase`` only moves URL
prefixes, the sender's onto the peer's origin and the target's onto ours, so contexts, extra
fields, ``participationMessage`` and LD ``signature`` blocks travel exactly as recorded.

Fixtures addressed to us but left out, and why:

- ``lemmy/delete-page.json`` and ``lemmy/like-note.json``: a Delete of a note and a Like in
  Lemmy's dialect; Mastodon's (``delete-note-tombstone``, ``like-page``) stand for their kind.
- ``mastodon/block.json``, ``mobilizon/invite-to-group.json``: nothing of ours acts on a Block
  or an Invite to a group (the node has no remote group membership); they are parsed only.
- ``gotosocial/accept-interaction.json``, ``gotosocial/reject-interaction.json``: answers to
  an interaction-approval request, which our node never sends.
- ``lemmy/announce-create-page.json``, ``peertube/announce-video.json``: Announces of a
  remote community's or channel's content, which only matter to a node following them as a
  reader of their timeline; ours lists remote *gatherings*, not remote posts.
- ``mobilizon/create-event-in-group.json``: an Event attributed to a Group; the Mobilizon and
  Gancio ``create-event`` replays here cover hearing an Event from a followed actor.
- Actors, WebFinger and NodeInfo documents are fetched, not sent: ``test_fixtures_parse.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from api_helpers import Headers, found, gathering, schedule, sign_up, timeline
from federation_support import ServedNode, eventually, served_node, statuses
from peer import AS, Peer

from kunveno.adapters.activitypub.sanitize import plain_text
from kunveno.domain.pii import reveal
from kunveno.domain.registration import Registration

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "activitypub"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"no fixtures at {FIXTURES}")

Json = dict[str, Any]
SLUG = "menders"
BOUNDARIES = "/#?"


# -- rebasing a recorded payload ---------------------------------------------------------------


def rebase(payload: Any, mapping: Mapping[str, str]) -> Any:
    """``payload`` with every string that starts with a key of ``mapping`` moved onto its value.

    The longest matching key wins. A key matches a string equal to it, or one that goes on
    past it at a URL boundary (``/``, ``#`` or ``?``; any character when the key itself ends
    with ``/``), so ``https://a.example`` never rewrites ``https://a.example.org``. Only
    values are rewritten, never keys, and nothing but strings changes.
    """
    prefixes = sorted(mapping, key=len, reverse=True)

    def moved(value: str) -> str:
        for old in prefixes:
            if value == old or (
                value.startswith(old) and (old.endswith("/") or value[len(old)] in BOUNDARIES)
            ):
                return mapping[old] + value[len(old) :]
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return moved(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    return walk(payload)


def recorded(name: str) -> Json:
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(payload, dict)
    return payload


def replayed(name: str, mapping: Mapping[str, str]) -> Json:
    """The recorded payload ``name``, rebased; it keeps every field it was recorded with."""
    original = recorded(name)
    payload = rebase(original, mapping)
    assert isinstance(payload, dict)
    assert set(payload) == set(original)
    return payload


def test_rebase_moves_url_prefixes_at_boundaries_and_nothing_else() -> None:
    payload = {
        "@context": [AS, {"ostatus": "http://ostatus.org#"}],
        "id": "https://a.example/users/x#likes/1",
        "actor": "https://a.example/users/x",
        "object": ["https://a.example/x", "https://a.example.org/x", "https://b.example/y?z"],
        "https://a.example": "a key is not rewritten",
        "content": "<a href='https://a.example/x'>inside text</a>",
        "count": 1,
        "sensitive": False,
        "summary": None,
    }
    mapping = {
        "https://a.example": "http://127.0.0.1:1",
        "https://a.example/users/x": "http://127.0.0.1:1/users/ada",
        "https://b.example/y": "http://127.0.0.1:2/g",
    }
    assert rebase(payload, mapping) == {
        **payload,
        "id": "http://127.0.0.1:1/users/ada#likes/1",
        "actor": "http://127.0.0.1:1/users/ada",
        "object": ["http://127.0.0.1:1/x", "https://a.example.org/x", "http://127.0.0.1:2/g?z"],
    }


# -- the node, the peers, and what to wait for ---------------------------------------------------


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


@pytest.fixture
def peer() -> Iterator[Peer]:
    with Peer() as running:
        yield running


class MovedPeer(Peer):
    """The account a Move goes to: it names the old account among its aliases."""

    def __init__(self, name: str, also_known_as: str) -> None:
        super().__init__(name)
        self.also_known_as = also_known_as

    def actor_document(self) -> Json:
        return {**super().actor_document(), "alsoKnownAs": [self.also_known_as]}


def settled(node: ServedNode) -> None:
    """The inbox processor has acted on everything recorded so far."""
    container = node.container
    assert container.inbox_processor.wait(container.projections.head(), timeout=15)
    container.read_your_writes(container.projections.head())


def send(peer: Peer, node: ServedNode, activity: Json, inbox: str = "/inbox") -> None:
    answer = peer.post(f"{node.url}{inbox}", activity)
    assert answer.status_code == 202, answer.text


def community_url(node: ServedNode) -> str:
    return f"{node.url}/communities/{SLUG}"


def followers(node: ServedNode, owner: Headers, status: str = "accepted") -> list[str]:
    answer = node.api.get(f"/api/v1/communities/{SLUG}/followers?status={status}", headers=owner)
    assert answer.status_code == 200, answer.text
    return [f["actor_url"] for f in answer.json()]


@dataclass(frozen=True)
class RecordedAnswer:
    """A recorded Accept or Reject of a Follow, and who is who in it."""

    fixture: str
    answerer: str  # who was followed: becomes the peer's actor
    origin: str  # the answerer's origin: becomes the peer's
    follower: str  # who followed: becomes our local person
    follow: str  # the Follow answered: becomes the one our node sent


ANSWERS = {
    "mastodon-accept": RecordedAnswer(
        "mastodon/accept-follow.json",
        answerer="http://mobilizon.test/@thomas0",
        origin="http://mobilizon.test",
        follower="http://mobilizon.test/@thomas1",
        follow="http://mobilizon.test/follows/fdfds",
    ),
    "lemmy-accept": RecordedAnswer(
        "lemmy/accept-follow.json",
        answerer="http://enterprise.lemmy.ml/c/main",
        origin="http://enterprise.lemmy.ml",
        follower="http://ds9.lemmy.ml/u/lemmy_alpha",
        follow="http://ds9.lemmy.ml/activities/follow/6abcd50b-b8ca-4952-86b0-a6dd8cc12866",
    ),
    "mastodon-reject": RecordedAnswer(
        "mastodon/reject-follow.json",
        answerer="http://mastodon.example.org/users/admin",
        origin="http://mastodon.example.org",
        follower="http://localtesting.pleroma.lol/users/lain",
        follow="http://localtesting.pleroma.lol/users/lain#follows/4",
    ),
}


def answer_follow(node: ServedNode, remote: Peer, answer: RecordedAnswer) -> Json:
    """The peer answers the Follow our node sent it with a recorded Accept or Reject."""
    follow = remote.wait_for("Follow", object=remote.actor)
    replay = replayed(
        answer.fixture,
        {
            answer.follow: follow["id"],
            answer.follower: follow["actor"],
            answer.answerer: remote.actor,
            answer.origin: remote.base,
        },
    )
    assert (replay["actor"], replay["object"]["id"]) == (remote.actor, follow["id"])
    send(remote, node, replay)
    return replay


def follow_from_here(
    node: ServedNode, person: Headers, remote: Peer, answer: str = "mastodon-accept"
) -> str:
    """A local person follows the peer's actor, and the peer answers; the follow's status."""
    asked = node.api.post("/api/v1/me/following", json={"address": remote.actor}, headers=person)
    assert asked.status_code == 201, asked.text
    answer_follow(node, remote, ANSWERS[answer])
    status: str = eventually(
        lambda: (
            statuses(node, "/api/v1/me/following", person).get(remote.actor) != "pending"
            and statuses(node, "/api/v1/me/following", person)[remote.actor]
        )
    )
    return status


def test_a_recorded_reject_refuses_a_follow_of_ours(node: ServedNode, peer: Peer) -> None:
    # The recorded Accepts (Mastodon's, Lemmy's) answer the follows of the tests below.
    ann = sign_up(node.api, "ann")
    assert follow_from_here(node, ann, peer, "mastodon-reject") == "rejected"


def join_message(node: ServedNode, registration_id: str) -> str | None:
    """The participation message the remote Join was recorded with (it is kept in the log)."""
    stored = node.container.log.repository.event_store.get(UUID(registration_id))
    joined = next(iter(stored))
    assert isinstance(joined, Registration.Joined)
    message = reveal(joined.message)
    assert message is None or isinstance(message, str)
    return message


# -- Follow and Undo of a community ----------------------------------------------------------


FOLLOWS = {
    "mastodon": {
        "follow": "mastodon/follow.json",
        "undo": "mastodon/undo-follow.json",
        "actor": "https://masto.asonix.dog/users/asonix",
        "community": "https://ds9.lemmy.ml/c/testcom",
    },
    "lemmy": {
        "follow": "lemmy/follow-group.json",
        "undo": "lemmy/undo-follow.json",
        "actor": "http://ds9.lemmy.ml/u/lemmy_alpha",
        "community": "http://enterprise.lemmy.ml/c/main",
    },
}


@pytest.mark.parametrize("server", sorted(FOLLOWS))
def test_a_follow_of_an_open_community_is_accepted_and_its_undo_ends_it(
    node: ServedNode, peer: Peer, server: str
) -> None:
    case = FOLLOWS[server]
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    community = community_url(node)
    mapping = {
        case["actor"]: peer.actor,
        case["actor"].rsplit("/", 2)[0]: peer.base,
        case["community"]: community,
    }
    follow = replayed(case["follow"], mapping)
    send(peer, node, follow, f"/communities/{SLUG}/inbox")

    accept = peer.wait_for("Accept", actor=community)
    assert accept["object"]["id"] == follow["id"]
    assert followers(node, owner) == [peer.actor]

    # Lemmy's recorded Undo names another Follow than its recorded Follow: it undoes this one.
    inner = recorded(case["undo"])["object"]["id"]
    undo = replayed(case["undo"], {**mapping, inner: follow["id"]})
    assert undo["object"]["id"] == follow["id"]
    send(peer, node, undo, f"/communities/{SLUG}/inbox")
    settled(node)
    assert followers(node, owner) == []
    assert followers(node, owner, "ended") == [peer.actor]


# -- Like, Undo Like and Announce of a gathering -----------------------------------------------


def test_a_like_its_undo_and_an_announce_of_a_gathering_are_counted(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    created = schedule(node.api, owner, SLUG)

    liking = {
        "https://mastodon.madrid/users/felix": peer.actor,
        "https://mastodon.madrid": peer.base,
        "https://ds9.lemmy.ml/post/147": created["url"],
    }
    like = replayed("mastodon/like-page.json", liking)
    assert (like["actor"], like["object"]) == (peer.actor, created["url"])
    send(peer, node, like)
    settled(node)
    assert gathering(node.api, created["id"], owner)["like_count"] == 1

    # As recorded, the Undo names a Like with another id (#likes/212341): the like of this
    # object by this actor is what it withdraws.
    send(peer, node, replayed("mastodon/undo-like-page.json", liking))
    settled(node)
    assert gathering(node.api, created["id"], owner)["like_count"] == 0

    status = "https://framapiaf.org/users/peertube/statuses/104584600044284729"
    announce = replayed(
        "mastodon/announce.json",
        {
            # The Announce's own id is the status id plus "/activity": it stays the sender's.
            f"{status}/activity": f"{peer.actor}/statuses/104584600044284729/activity",
            status: created["url"],
            "https://framapiaf.org/users/peertube": peer.actor,
            "https://framapiaf.org": peer.base,
        },
    )
    assert announce["object"] == created["url"]
    assert announce["signature"] == recorded("mastodon/announce.json")["signature"]
    send(peer, node, announce)
    settled(node)
    seen = gathering(node.api, created["id"], owner)
    assert (seen["announce_count"], seen["like_count"]) == (1, 0)


# -- Join and Leave of a gathering (Mobilizon) -------------------------------------------------


# What the registration keeps of the Join's participationMessage: its plain text, whitespace
# collapsed (the recorded message has a French no-break space before "!").
JOINS = {
    "join-event": None,
    "join-event-participationMessage": "I want to join !",
}


@pytest.mark.parametrize("fixture", sorted(JOINS))
def test_a_mobilizon_join_registers_is_accepted_and_its_leave_cancels(
    node: ServedNode, peer: Peer, fixture: str
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    created = schedule(node.api, owner, SLUG)
    mapping = {
        "http://mobilizon2.test/@admin": peer.actor,
        "http://mobilizon2.test": peer.base,
        "http://mobilizon.test/events/some-uuid": created["url"],
    }
    join = replayed(f"mobilizon/{fixture}.json", mapping)
    assert join.get("participationMessage") == (
        None if JOINS[fixture] is None else "I want to join\u00a0!"
    )
    send(peer, node, join)

    accepted = peer.wait_for("Accept", actor=community_url(node))
    # Mobilizon's shape: the Accept carries the whole Join, found again by its id.
    assert accepted["object"]["id"] == join["id"]
    assert (accepted["object"]["type"], accepted["object"]["object"]) == ("Join", created["url"])
    assert accepted["object"]["actor"] == peer.actor
    assert gathering(node.api, created["id"], owner)["registration_count"] == 1

    answer = node.api.get(f"/api/v1/gatherings/{created['id']}/registrations", headers=owner)
    assert answer.status_code == 200, answer.text
    [remote] = [p for p in answer.json()["participants"] if p["actor_url"] == peer.actor]
    assert join_message(node, remote["id"]) == JOINS[fixture]

    # Mobilizon's recorded Leave reuses its Join's id: as recorded, it is a replay of the Join
    # and changes nothing (an id is recorded once).
    send(peer, node, replayed("mobilizon/leave-event.json", mapping))
    settled(node)
    assert gathering(node.api, created["id"], owner)["registration_count"] == 1

    # With an id of its own (as a live Mobilizon gives it) the Leave cancels the registration.
    recorded_id = recorded("mobilizon/leave-event.json")["id"]
    leave = replayed(
        "mobilizon/leave-event.json", {**mapping, recorded_id: f"{peer.actor}/leave/event/1"}
    )
    assert (leave["type"], leave["object"], leave["id"]) == (
        "Leave",
        created["url"],
        f"{peer.actor}/leave/event/1",
    )
    send(peer, node, leave)
    settled(node)
    assert gathering(node.api, created["id"], owner)["registration_count"] == 0


# -- Flag -------------------------------------------------------------------------------------


def test_a_mastodon_flag_of_our_community_is_kept_as_a_report(node: ServedNode, peer: Peer) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    community = community_url(node)
    flag = replayed(
        "mastodon/flag.json",
        {
            "https://mastodon.example/actor": peer.actor,
            "https://mastodon.example": peer.base,
            # The reported account is our community; the reported posts are on our node.
            "https://example.com/users/1": community,
            "https://example.com": node.url,
        },
    )
    send(peer, node, flag)
    settled(node)
    [report] = node.container.queries.reports()
    assert report["reporter"] == peer.actor
    assert report["comment"] == "Please take a look at this user and their posts"
    assert json.loads(report["objects"]) == [
        community,
        f"{node.url}/posts/380590",
        f"{node.url}/posts/380591",
    ]


# -- Create Note to a community ---------------------------------------------------------------


def test_a_mastodon_note_to_the_community_becomes_a_post_and_is_announced(
    node: ServedNode, peer: Peer
) -> None:
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    community = community_url(node)
    peer.follow(community, f"{node.url}/inbox")
    peer.wait_for("Accept", actor=community)

    create = replayed(
        "mastodon/create-note.json",
        {
            # Mastodon addresses a group by mentioning it: the mentioned account (cc and tag)
            # becomes our community; the status it answers stays where it was.
            "https://mamot.fr/users/retiolus/statuses/": "https://mamot.fr/users/retiolus/statuses/",
            "https://mamot.fr/users/retiolus": community,
            "https://mastodon.madrid/users/felix": peer.actor,
            "https://mastodon.madrid": peer.base,
        },
    )
    assert community in create["cc"]
    assert community in create["object"]["cc"]
    assert create["object"]["inReplyTo"].startswith("https://mamot.fr/")
    send(peer, node, create)

    announce = peer.wait_for("Announce", actor=community)
    assert announce["object"] == create  # the original, exactly as received (FEP-1b12)
    [post] = timeline(node.api, SLUG, owner)
    assert post["author"] == f"remote:{peer.actor}"
    assert post["content"] == plain_text(create["object"]["content"])
    assert "thinkpad" in post["content"]
    assert "<" not in post["content"]

    # Mastodon's recorded Delete (with a Tombstone and an LD signature) of another of felix's
    # statuses, moved onto the one just posted: the post is gone.
    deleted = "https://mastodon.madrid/users/felix/statuses/107773559874184870"
    delete = replayed(
        "mastodon/delete-note-tombstone.json",
        {
            deleted: create["object"]["id"],
            "https://mastodon.madrid/users/felix": peer.actor,
            "https://mastodon.madrid": peer.base,
        },
    )
    assert delete["object"]["type"] == "Tombstone"
    assert delete["object"]["id"] == create["object"]["id"]
    send(peer, node, delete)
    settled(node)
    assert timeline(node.api, SLUG, owner) == []


# -- Delete of an actor -----------------------------------------------------------------------


SELF_DELETES = {
    # As recorded, Mastodon's has no ActivityStreams context and embeds the actor; Lemmy's
    # names it by reference and asks for its data to be removed.
    "mastodon": ("mastodon/delete-actor.json", "https://framapiaf.org/users/admin"),
    "lemmy": ("lemmy/delete-user.json", "http://ds9.lemmy.ml/u/lemmy_alpha"),
}


@pytest.mark.parametrize("server", sorted(SELF_DELETES))
def test_an_actor_delete_ends_its_follows_and_cancels_its_registrations(
    node: ServedNode, peer: Peer, server: str
) -> None:
    fixture, actor = SELF_DELETES[server]
    owner = sign_up(node.api, "olga")
    found(node.api, owner, SLUG)
    community = community_url(node)
    created = schedule(node.api, owner, SLUG)
    peer.follow(community, f"{node.url}/inbox")
    peer.wait_for("Accept", actor=community)
    join_id = peer.new_id("Join")
    join = {
        "@context": AS,
        "id": join_id,
        "type": "Join",
        "actor": peer.actor,
        "object": created["url"],
    }
    send(peer, node, join)
    eventually(
        lambda: [a for _, _, a in peer.received_of("Accept") if a["object"]["id"] == join_id]
    )
    assert followers(node, owner) == [peer.actor]
    assert gathering(node.api, created["id"], owner)["registration_count"] == 1

    delete = replayed(fixture, {actor: peer.actor, actor.rsplit("/", 2)[0]: peer.base})
    assert delete["actor"] == peer.actor
    deleted = delete["object"]
    assert (deleted if isinstance(deleted, str) else deleted["id"]) == peer.actor
    send(peer, node, delete)
    settled(node)
    assert followers(node, owner) == []
    assert gathering(node.api, created["id"], owner)["registration_count"] == 0


# -- Create Event, from an actor a local person follows -----------------------------------------


EVENTS = {
    "gancio": {
        "fixture": "gancio/create-event.json",
        "actor": "https://demo.gancio.org/federation/u/gancio",
        "origin": "https://demo.gancio.org",
    },
    "mobilizon": {
        "fixture": "mobilizon/create-event.json",
        "actor": "https://mobilizon.fr/@metacartes",
        "origin": "https://mobilizon.fr",
    },
}


@pytest.mark.parametrize("server", sorted(EVENTS))
def test_an_event_from_a_followed_actor_is_listed_for_its_follower(
    node: ServedNode, peer: Peer, server: str
) -> None:
    case = EVENTS[server]
    ann = sign_up(node.api, "ann")
    assert follow_from_here(node, ann, peer) == "accepted"

    create = replayed(case["fixture"], {case["actor"]: peer.actor, case["origin"]: peer.base})
    event = create["object"]
    assert event["attributedTo"] == create["actor"] == peer.actor
    send(peer, node, create)
    settled(node)

    answer = node.api.get("/api/v1/remote/gatherings", headers=ann)
    assert answer.status_code == 200, answer.text
    [listed] = answer.json()
    assert (listed["url"], listed["organiser"]) == (event["id"], peer.actor)
    assert listed["name"] == event["name"]
    assert datetime.fromisoformat(listed["starts_at"]) == datetime.fromisoformat(event["startTime"])


# -- Move -------------------------------------------------------------------------------------


MOVES = {
    "mastodon": {
        "fixture": "mastodon/move.json",
        "actor": "https://mastodon.example/users/alice",
        "origin": "https://mastodon.example",
        "target": "https://alice.com/users/109835986274379",
    },
    "gotosocial": {
        "fixture": "gotosocial/move.json",
        "actor": "https://example.org/users/1happyturtle",
        "origin": "https://example.org",
        "target": "https://another-server.com/users/my_new_account_hurray",
    },
}


@pytest.mark.parametrize("server", sorted(MOVES))
def test_a_move_of_a_followed_actor_carries_the_follow_to_its_target(
    node: ServedNode, peer: Peer, server: str
) -> None:
    case = MOVES[server]
    ann = sign_up(node.api, "ann")
    assert follow_from_here(node, ann, peer) == "accepted"

    with MovedPeer("carl", also_known_as=peer.actor) as target:
        move = replayed(
            case["fixture"],
            {case["target"]: target.actor, case["actor"]: peer.actor, case["origin"]: peer.base},
        )
        assert (move["object"], move["target"]) == (peer.actor, target.actor)
        send(peer, node, move)

        answer_follow(node, target, ANSWERS["lemmy-accept"])
        eventually(
            lambda: statuses(node, "/api/v1/me/following", ann).get(target.actor) == "accepted"
        )
        assert statuses(node, "/api/v1/me/following", ann)[peer.actor] == "withdrawn"
        undo = peer.wait_for("Undo")
        assert undo["object"]["type"] == "Follow"
