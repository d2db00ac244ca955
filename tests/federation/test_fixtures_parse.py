"""Every real payload in the shared fixtures goes through the parser meant for it.

The fixtures are copied byte for byte from Mastodon, Mobilizon, Lemmy, Gancio, GoToSocial,
PeerTube and the FEPs (see ``sources.md`` beside them). A payload we cannot read is an interop
bug; the few that are refused are listed in ``REFUSED`` with the reason, so a change in what we
accept shows up here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kunveno.adapters.activitypub.sanitize import plain_text
from kunveno.adapters.activitypub.vocabulary import (
    ACTOR_TYPES,
    NOTE_TYPES,
    PUBLIC,
    InvalidActivity,
    RemoteActor,
    RemoteEvent,
    first_type,
    ids_of,
    is_public,
    origin,
    parse_activity,
    parse_actor,
    parse_event,
    parse_json_bounded,
    parse_note,
    parse_public_key,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "activitypub"
FILES = (
    sorted(FIXTURES.rglob("*.json")) + sorted(FIXTURES.rglob("*.txt")) if FIXTURES.is_dir() else []
)

ACTIVITY_TYPES = frozenset(
    {
        "Follow",
        "Undo",
        "Accept",
        "Reject",
        "Create",
        "Update",
        "Delete",
        "Announce",
        "Like",
        "Join",
        "Leave",
        "Move",
        "Flag",
        "Block",
        "Invite",
        "Add",
        "Remove",
        "Ignore",
    }
)
COLLECTION_TYPES = frozenset(
    {"Collection", "OrderedCollection", "CollectionPage", "OrderedCollectionPage"}
)

# Fixtures we refuse on purpose, with the code and why.
REFUSED = {
    # GoToSocial's docs show Deletes without an "id"; an activity we cannot deduplicate or
    # audit is refused (real GoToSocial traffic carries one).
    "gotosocial/delete-direct-message.json": "missing_id",
    "gotosocial/delete-public-post.json": "missing_id",
    # The partial actor GoToSocial serves at its key URL: a key, not an account (no inbox).
    "gotosocial/publickey-stub-actor.json": "missing_inbox",
    # Published with "{{DOMAIN}}" placeholders for the host; see the test with a real host.
    "mastodon/actor-application-instance-actor.json": "bad_url",
    # The fixture has no startTime or endTime (sources.md); an Event needs a start.
    "gancio/event-v1.22-shape.json": "missing_start_time",
    # Not valid JSON as published in the FEP (a missing comma); kept verbatim as .txt.
    "fep/fep-1b12-announce-create.published.txt": "json_invalid",
}


def relative(path: Path) -> str:
    return path.relative_to(FIXTURES).as_posix()


def load(name: str) -> dict[str, Any]:
    return parse_json_bounded((FIXTURES / name).read_bytes())


def test_the_fixture_folder_is_there() -> None:
    assert FIXTURES.is_dir(), (
        f"shared ActivityPub fixtures not found at {FIXTURES}; they are part of the spec "
        "these tests check against, so a missing folder is a failure, not a skip"
    )
    assert len(FILES) >= 60, f"only {len(FILES)} fixtures found under {FIXTURES}"
    assert set(REFUSED) <= {relative(path) for path in FILES}


def check_document(doc: dict[str, Any]) -> object:
    """Parse a document with the parser for its kind; nested activities and objects too."""
    kind = first_type(doc)
    if kind in ACTIVITY_TYPES:
        activity = parse_activity(doc)
        # An embedded actor (Delete{Person}) is only a stub naming the id: no inbox to check.
        if activity.object is not None and first_type(activity.object) not in ACTOR_TYPES:
            check_document(activity.object)
        return activity
    if kind in ACTOR_TYPES:
        return parse_actor(doc)
    if kind == "Event":
        return parse_event(doc)
    if kind in NOTE_TYPES:
        return parse_note(doc)
    if kind == "Tombstone":
        return origin(doc["id"])
    if kind in COLLECTION_TYPES:
        return check_collection(doc)
    return check_discovery_document(doc)


def check_collection(doc: dict[str, Any]) -> object:
    assert origin(doc["id"])
    first = doc.get("first")
    page: dict[str, Any] = first if isinstance(first, dict) else doc
    items: list[Any] = page.get("orderedItems", page.get("items", []))
    for item in items:
        if isinstance(item, dict) and first_type(item) != "Member":
            check_document(item)
    return items


def check_discovery_document(doc: dict[str, Any]) -> object:
    if "subject" in doc:  # WebFinger JRD
        assert doc["subject"].startswith("acct:")
        selves = [link for link in doc["links"] if link.get("rel") == "self"]
        assert selves, "a WebFinger answer needs a rel=self link"
        return [origin(link["href"]) for link in selves]
    if "software" in doc:  # NodeInfo document
        assert doc["software"]["name"]
        assert "activitypub" in doc["protocols"]
        return doc["software"]
    if "links" in doc:  # NodeInfo discovery
        rels = [link["rel"] for link in doc["links"]]
        assert all(rel.startswith("http://nodeinfo.diaspora.software/ns/schema/") for rel in rels)
        return [origin(link["href"]) for link in doc["links"]]
    raise AssertionError(f"unclassified fixture of type {first_type(doc)!r}: teach this test")


@pytest.mark.parametrize("path", FILES, ids=relative)
def test_every_fixture_parses(path: Path) -> None:
    name = relative(path)
    if name in REFUSED:
        with pytest.raises(InvalidActivity) as info:
            check_document(parse_json_bounded(path.read_bytes()))
        assert info.value.code == REFUSED[name]
    else:
        assert check_document(parse_json_bounded(path.read_bytes())) is not None


# --- Mastodon -----------------------------------------------------------------------------


def test_mastodon_person() -> None:
    actor = parse_actor(load("mastodon/actor-person.json"))
    base = "https://masto.qa.urbanwildlife.biz"
    assert actor.type == "Person"
    assert actor.inbox == f"{base}/users/mastodon/inbox"
    assert actor.shared_inbox == f"{base}/inbox"
    assert actor.followers == f"{base}/users/mastodon/followers"
    assert actor.public_key_id == f"{base}/users/mastodon#main-key"
    assert actor.public_key_owner == actor.id
    assert actor.public_key_pem is not None
    assert actor.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert (actor.preferred_username, actor.name) == ("mastodon", "Mastodon")
    assert actor.summary is None
    assert actor.discoverable is False
    assert actor.icon is not None
    assert actor.icon.endswith("2cf61ff96e94cb1d.png")


def test_mastodon_bot_summary_is_sanitised() -> None:
    actor = parse_actor(load("mastodon/actor-service-bot-2019.json"))
    assert actor.type == "Service"
    assert actor.summary is not None
    assert 'target="_blank"' not in actor.summary
    assert 'rel="nofollow noopener noreferrer"' in actor.summary
    assert '<span class="invisible">https://</span>' in actor.summary
    assert actor.discoverable is None  # the fixture says null


def test_mastodon_instance_actor_with_a_real_host() -> None:
    text = (FIXTURES / "mastodon/actor-application-instance-actor.json").read_text()
    doc = parse_json_bounded(text.replace("{{DOMAIN}}", "mastodon.example").encode())
    actor = parse_actor(doc)
    assert actor.type == "Application"
    assert actor.manually_approves_followers is True
    assert actor.shared_inbox == "https://mastodon.example/inbox"
    assert actor.public_key_id == "https://mastodon.example/actor#main-key"
    assert actor.preferred_username == "mastodon.example"


def test_mastodon_create_note() -> None:
    activity = parse_activity(load("mastodon/create-note.json"))
    assert activity.object is not None
    status = parse_note(activity.object)
    assert status.attributed_to == activity.actor
    assert status.in_reply_to == "https://mamot.fr/users/retiolus/statuses/107224244380204526"
    assert is_public(status.cc)
    assert not is_public(status.to)
    assert 'class="u-url mention"' in status.content
    assert status.published == datetime(2021, 11, 5, 11, 46, 50, tzinfo=UTC)


def test_mastodon_flag_names_several_objects() -> None:
    activity = parse_activity(load("mastodon/flag.json"))
    assert activity.object_id == "https://example.com/users/1"
    assert len(ids_of(activity.raw["object"])) == 3
    assert activity.to == ("https://example.com/users/1",)


def test_mastodon_delete_actor_without_as2_context_still_parses() -> None:
    doc = load("mastodon/delete-actor.json")
    assert "https://www.w3.org/ns/activitystreams" not in json.dumps(doc["@context"])
    activity = parse_activity(doc)
    assert activity.object_id == activity.actor == "https://framapiaf.org/users/admin"


@pytest.mark.parametrize("name", ["mastodon/move.json", "gotosocial/move.json"])
def test_move(name: str) -> None:
    activity = parse_activity(load(name))
    assert activity.object_id == activity.actor
    assert activity.target is not None
    assert origin(activity.target) != origin(activity.actor)


def test_mastodon_accept_embeds_the_follow() -> None:
    activity = parse_activity(load("mastodon/accept-follow.json"))
    assert activity.object is not None
    inner = parse_activity(activity.object)
    assert (inner.type, inner.object_id) == ("Follow", activity.actor)


# --- Mobilizon ----------------------------------------------------------------------------


def test_mobilizon_event() -> None:
    event = parse_event(load("mobilizon/event.json"))
    assert event.name == "Caledonian scottish dance class"
    assert event.starts_at == datetime(2022, 12, 11, 19, tzinfo=UTC)
    assert event.ends_at == datetime(2022, 12, 11, 21, tzinfo=UTC)
    assert event.timezone == "Europe/London"
    assert event.place_name == "The Kenn Centre"
    assert event.address == "Devon Expressway, EX6 7TW Teignbridge, England, United Kingdom"
    assert event.join_mode == "free"
    assert event.capacity is None  # 0 means unlimited
    assert (event.remaining_capacity, event.participant_count) == (None, 0)
    assert event.status == "scheduled"  # ical:status CONFIRMED
    assert event.anonymous_participation is True
    assert event.attributed_to == "https://rendezvous.nomagic.uk/@devon_caledonian_society"
    assert event.url == event.id
    assert event.online_url is None
    assert event.content.startswith("<p>£6 each.</p>")
    assert 'target="_blank"' not in event.content


def test_mobilizon_org_event_skips_blank_address_parts() -> None:
    event = parse_event(load("mobilizon/event-mobilizon.org.json"))
    assert event.address == "Nantes, Pays de la Loire, France"
    assert event.place_name == "Cour du Château des Ducs de Bretagne"


def test_mobilizon_create_event_online_link_is_the_website_attachment() -> None:
    activity = parse_activity(load("mobilizon/create-event.json"))
    assert activity.object is not None
    event = parse_event(activity.object)
    assert event.online_url == "https://google.com"
    assert event.address == "10 Rue Jangot, 69007 Lyon, Auvergne Rhône Alpes, France"
    assert event.place_name == "Locaux de Framasoft"
    assert is_public(activity.to)


def test_mobilizon_event_in_group_is_attributed_to_the_group() -> None:
    activity = parse_activity(load("mobilizon/create-event-in-group.json"))
    assert activity.object is not None
    event = parse_event(activity.object)
    assert event.attributed_to == "http://mobilizon1.com/@group"
    assert activity.actor == "http://mobilizon1.com/@user"
    assert not is_public(activity.to)


def test_mobilizon_group() -> None:
    group = parse_actor(load("mobilizon/group.json"))
    assert group.type == "Group"
    assert group.followers == "https://mobilizon.fr/@contribateliers/followers"
    assert group.shared_inbox == "https://mobilizon.fr/inbox"
    assert group.summary == "<p>Des ateliers pour contribuer au libre sans rien y connaître.</p>"
    assert group.discoverable is True


def test_mobilizon_join_with_participation_message() -> None:
    activity = parse_activity(load("mobilizon/join-event-participationMessage.json"))
    assert activity.type == "Join"
    assert activity.object_id == "http://mobilizon.test/events/some-uuid"
    assert plain_text(activity.raw["participationMessage"]) == "I want to join !"


def test_mobilizon_invite_targets_the_invitee() -> None:
    activity = parse_activity(load("mobilizon/invite-to-group.json"))
    assert activity.object_id == "http://mobilizon.test/@mygroup"
    assert activity.target == "http://mobilizon.test/@someuser"


# --- Gancio -------------------------------------------------------------------------------


def test_gancio_create_event_without_context_or_place_type() -> None:
    doc = load("gancio/create-event.json")
    assert "@context" not in doc
    activity = parse_activity(doc)
    assert activity.id.endswith("#create")
    assert activity.object is not None
    event = parse_event(activity.object)
    assert event.place_name == "Colosseo"
    assert event.address is None
    assert event.starts_at.utcoffset() == timedelta(hours=2)
    assert event.url == "https://demo.gancio.org/event/demo-event"


def test_gancio_1_22_string_address_once_it_has_a_start() -> None:
    doc = load("gancio/event-v1.22-shape.json")
    event = parse_event({**doc, "startTime": "2024-05-04T21:00:00+02:00"})
    assert event.place_name == "Fediverse TV"
    assert event.address == "C/ Falsa 123"
    assert event.content == "<strong> This is the the <i>content</i></strong>"
    assert event.attributed_to == "https://remote.example/@organizer"


def test_gancio_relay_actor() -> None:
    actor = parse_actor(load("gancio/actor-application.json"))
    assert actor.type == "Application"
    assert actor.shared_inbox is None
    assert actor.inbox == "https://demo.gancio.org/federation/u/gancio/inbox"


# --- Lemmy and PeerTube -------------------------------------------------------------------


def test_lemmy_group() -> None:
    group = parse_actor(load("lemmy/actor-group.json"))
    assert group.type == "Group"
    assert group.followers == "https://enterprise.lemmy.ml/c/tenforward/followers"
    assert group.shared_inbox == "https://enterprise.lemmy.ml/inbox"
    assert group.public_key_id == "https://enterprise.lemmy.ml/c/tenforward#main-key"
    assert group.name == "Ten Forward"
    assert group.summary is not None
    assert "<hr" not in group.summary


def test_lemmy_page_carries_its_community_as_audience() -> None:
    page = parse_note(load("lemmy/page.json"))
    assert (page.type, page.name) == ("Page", "Post title")
    assert page.audience == ("https://enterprise.lemmy.ml/c/tenforward",)
    assert page.audience[0] in page.to
    assert is_public(page.to)


def test_lemmy_announce_wraps_the_create_page() -> None:
    announce = parse_activity(load("lemmy/announce-create-page.json"))
    assert announce.object is not None
    create = parse_activity(announce.object)
    assert create.object is not None
    page = parse_note(create.object)
    assert create.type == "Create"
    assert page.name == "post 4"
    assert page.content == ""
    assert announce.actor in create.cc


def test_peertube_channel_takes_the_first_icon() -> None:
    channel = parse_actor(load("peertube/actor-group-channel.json"))
    assert channel.icon == (
        "https://tilvids.com/lazy-static/avatars/1bbe97f1-d283-4db4-8bdd-e5320564aff9.jpg"
    )
    assert channel.followers is not None
    assert channel.followers.endswith("/followers")


# --- GoToSocial ---------------------------------------------------------------------------


def test_gotosocial_key_stub_gives_its_key() -> None:
    key_id, owner, pem = parse_public_key(load("gotosocial/publickey-stub-actor.json"))
    assert key_id == "https://example.org/users/example_user/main-key"
    assert owner == "https://example.org/users/example_user"
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_gotosocial_outbox_page_items_parse() -> None:
    doc = load("gotosocial/outbox-page.json")
    activities = [parse_activity(item) for item in doc["orderedItems"]]
    assert [activity.type for activity in activities] == ["Create"]
    assert activities[0].to == (PUBLIC,)


# --- FEPs ---------------------------------------------------------------------------------


def fep_event(name: str) -> RemoteEvent:
    return parse_event(load(f"fep/fep-8a8e-{name}.json"))


def test_fep_8a8e_hybrid_location() -> None:
    event = fep_event("event-hybrid-location")
    assert event.place_name == "Fediverse University"
    assert event.address == "15 Fediverse Street, 1337 Fediverse Town, Fediverse Country"
    assert event.online_url == "https://bbb.example.com/meeting-room-1"


def test_fep_8a8e_postal_address() -> None:
    event = fep_event("event-postal-address")
    assert event.address == "15 Fediverse Street, 8010 Fediverse Town, Steiermark, Austria"
    assert event.starts_at == datetime(2015, 1, 1, 7, tzinfo=UTC)


def test_fep_8a8e_capacity_and_attendees() -> None:
    event = fep_event("event-attendees")
    assert (event.capacity, event.participant_count) == (100, 84)


def test_fep_8a8e_timezone_and_external_join() -> None:
    assert fep_event("event-timezone").timezone == "Europe/Rome"
    assert fep_event("event-external-join").join_mode == "external"


def test_fep_844e_actor_without_a_key() -> None:
    actor: RemoteActor = parse_actor(load("fep/fep-844e-actor-generator-implements.json"))
    assert (actor.public_key_id, actor.public_key_pem) == (None, None)


def test_fep_1b12_example_once_its_comma_is_restored() -> None:
    text = (FIXTURES / "fep/fep-1b12-announce-create.published.txt").read_text()
    repaired = text.replace(
        '"https://sally.example.org/a/2"\n', '"https://sally.example.org/a/2",\n'
    )
    doc = parse_json_bounded(repaired.encode())
    # The outer id is "example.org/a/5", with no scheme: still refused.
    with pytest.raises(InvalidActivity) as info:
        parse_activity(doc)
    assert info.value.code == "bad_url"
    inner = parse_activity(doc["object"])
    assert inner.audience == ("https://example.org/my-forum",)


def test_nodeinfo_names_its_software() -> None:
    assert load("mobilizon/nodeinfo-2.1.json")["software"]["version"] == "5.1.0"
