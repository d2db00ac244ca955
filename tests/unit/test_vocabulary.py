"""Reading ActivityStreams 2 input: hostile bodies refused, peers' dialects tolerated."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kunveno.adapters.activitypub.vocabulary import (
    MAX_ADDRESSES,
    MAX_CONTENT_BYTES,
    MAX_NAME_CHARS,
    PUBLIC,
    InvalidActivity,
    first_type,
    id_of,
    ids_of,
    is_public,
    origin,
    parse_activity,
    parse_actor,
    parse_event,
    parse_json_bounded,
    parse_note,
    parse_public_key,
    same_origin,
)

ACTOR = "https://social.example/users/alice"
PEM = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"


def refusal(parse: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    """The code of the InvalidActivity that parsing raises (and fails if it raises nothing)."""
    with pytest.raises(InvalidActivity) as info:
        parse(*args, **kwargs)
    return info.value.code


def follow(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "https://social.example/activities/1",
        "type": "Follow",
        "actor": ACTOR,
        "object": "https://events.example/@group",
    }
    doc.update(changes)
    return {key: value for key, value in doc.items() if value is not None}


def actor(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": ACTOR,
        "type": "Person",
        "inbox": f"{ACTOR}/inbox",
        "preferredUsername": "alice",
        "publicKey": {"id": f"{ACTOR}#main-key", "owner": ACTOR, "publicKeyPem": PEM},
    }
    doc.update(changes)
    return {key: value for key, value in doc.items() if value is not None}


def event(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "https://events.example/events/1",
        "type": "Event",
        "name": "Picnic",
        "startTime": "2030-06-01T12:00:00+02:00",
    }
    doc.update(changes)
    return {key: value for key, value in doc.items() if value is not None}


def note(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "https://social.example/notes/1",
        "type": "Note",
        "attributedTo": ACTOR,
        "content": "<p>hi</p>",
    }
    doc.update(changes)
    return {key: value for key, value in doc.items() if value is not None}


# --- parse_json_bounded -------------------------------------------------------------------


def test_a_json_object_is_returned() -> None:
    assert parse_json_bounded(b'{"type": "Follow", "n": [1, {"a": null}]}') == {
        "type": "Follow",
        "n": [1, {"a": None}],
    }


def test_ten_thousand_nested_arrays_are_too_deep_not_a_recursion_error() -> None:
    assert refusal(parse_json_bounded, b"[" * 10_000 + b"]" * 10_000) == "too_deep"
    assert refusal(parse_json_bounded, b'{"a":' * 10_000 + b"1" + b"}" * 10_000) == "too_deep"


def test_a_megabyte_of_open_brackets_is_too_deep() -> None:
    assert refusal(parse_json_bounded, b"[" * 1_000_000) == "too_deep"


def test_depth_limit_is_exact() -> None:
    def nested(depth: int) -> bytes:
        return b'{"a":' * depth + b"0" + b"}" * depth

    assert parse_json_bounded(nested(32)) is not None
    assert refusal(parse_json_bounded, nested(33)) == "too_deep"
    assert refusal(parse_json_bounded, nested(5), max_depth=4) == "too_deep"


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    body = json.dumps({"text": "[" * 500 + '\\"{' * 100, "more": "]]}}"}).encode()
    assert parse_json_bounded(body)["more"] == "]]}}"


def test_an_oversized_body_is_refused_before_parsing() -> None:
    # Not JSON at all: had it been parsed first, the code would be json_invalid.
    assert refusal(parse_json_bounded, b"x" * (2 * 1024 * 1024)) == "too_large"
    assert refusal(parse_json_bounded, b'{"a": 1}', max_bytes=4) == "too_large"


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff\xfe"}',
        b"\xef\xbb\xbf{}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1,}',
        b'{"a": "unterminated',
        b"",
        b'{"n": ' + b"9" * 5000 + b"}",
    ],
)
def test_invalid_json_is_refused(body: bytes) -> None:
    assert refusal(parse_json_bounded, body) == "json_invalid"


@pytest.mark.parametrize("body", [b"[]", b'[{"id": "x"}]', b'"text"', b"42", b"null"])
def test_a_top_level_value_that_is_not_an_object_is_refused(body: bytes) -> None:
    assert refusal(parse_json_bounded, body) == "not_an_object"


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_an_object_or_invalid_activity(body: bytes) -> None:
    with contextlib.suppress(InvalidActivity):
        assert isinstance(parse_json_bounded(body), dict)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b":", b",", b"1", b'"a"'])))
def test_bracket_and_quote_soup_gives_an_object_or_invalid_activity(parts: list[bytes]) -> None:
    with contextlib.suppress(InvalidActivity):
        parse_json_bounded(b"".join(parts), max_depth=3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab:,'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), children, max_size=3)
    ),
    max_leaves=20,
)


def depth_of(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=3), json_values, max_size=3), st.integers(1, 6))
def test_depth_is_measured_as_json_nests_it(doc: dict[str, Any], max_depth: int) -> None:
    body = json.dumps(doc).encode()
    if depth_of(doc) <= max_depth:
        assert parse_json_bounded(body, max_depth=max_depth) == doc
    else:
        assert refusal(parse_json_bounded, body, max_depth=max_depth) == "too_deep"


# --- origin and helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.COM/users/a", "https://example.com"),
        ("HTTPS://example.com:443/x", "https://example.com"),
        ("http://example.com:80/", "http://example.com"),
        ("http://example.com:443/", "http://example.com:443"),
        ("https://example.com:8443/inbox", "https://example.com:8443"),
        ("https://Bücher.example/", "https://xn--bcher-kva.example"),
        ("https://[::1]:443/", "https://[::1]"),
        ("https://[2001:DB8:0:0::1]:8080/", "https://[2001:db8::1]:8080"),
        ("https://social.example/users/alice#main-key", "https://social.example"),
    ],
)
def test_origin_normalises(url: str, expected: str) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com/",
        "file:///etc/passwd",
        "https://user@evil.example/",
        "https://good.example:pw@evil.example/",
        "https://good.example\\@evil.example/",
        "https:///no-host",
        "https://",
        "example.org/a/5",
        "https://exa mple.com/",
        "https://example.com/\tx",
        "https://exa\nmple.com/",
        "https://example.com:0/",
        "https://example.com:99999/",
        "https://{{DOMAIN}}/actor",
        "https://-bad-.example/",
        "https://[::1/",
        "https://" + "a" * 5000 + ".example/",
        "",
    ],
)
def test_origin_refuses_what_is_not_a_plain_http_url(url: str) -> None:
    assert refusal(origin, url) == "bad_url"


@given(st.text(max_size=60))
def test_origin_never_raises_anything_else(url: str) -> None:
    with contextlib.suppress(InvalidActivity):
        assert origin(url).startswith(("http://", "https://"))


def test_same_origin() -> None:
    assert same_origin("https://A.example/x", "https://a.example:443/y#z")
    assert not same_origin("https://a.example/", "http://a.example/")
    assert not same_origin("https://a.example/", "https://a.example:8443/")
    assert not same_origin("https://a.example/", "https://b.a.example/")
    assert not same_origin("javascript:x", "javascript:x")


def test_ids_and_types_in_every_shape() -> None:
    assert id_of("https://a.example/1") == "https://a.example/1"
    assert id_of({"id": "https://a.example/1", "type": "Note"}) == "https://a.example/1"
    assert id_of({"type": "Link", "href": "https://a.example/2"}) == "https://a.example/2"
    assert id_of({"type": "Note"}) is None
    assert id_of(42) is None
    assert id_of("") is None
    assert ids_of(["https://a.example/1", {"id": "https://a.example/2"}, 3, None]) == [
        "https://a.example/1",
        "https://a.example/2",
    ]
    assert ids_of(None) == []
    assert first_type({"type": ["Event", "sc:Event"]}) == "Event"
    assert first_type({"type": "Note"}) == "Note"
    assert first_type({"type": [1, ""]}) is None
    assert first_type({}) is None


def test_public_in_all_its_spellings() -> None:
    assert is_public([PUBLIC])
    assert is_public(["https://a.example/followers", "as:Public"])
    assert is_public(["Public"])
    assert not is_public(["https://a.example/followers"])
    assert not is_public([])


# --- parse_activity -----------------------------------------------------------------------


def test_activity_envelope() -> None:
    activity = parse_activity(
        follow(
            to="as:Public",
            cc=["https://social.example/users/alice/followers", PUBLIC],
            published="2024-03-01T10:00:00Z",
        )
    )
    assert activity.type == "Follow"
    assert activity.actor == ACTOR
    assert activity.object_id == "https://events.example/@group"
    assert activity.object is None
    assert activity.to == (PUBLIC,)
    assert activity.cc == ("https://social.example/users/alice/followers", PUBLIC)
    assert activity.published == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_embedded_object_and_actor_object() -> None:
    inner = {"id": "https://social.example/follows/9", "type": "Follow", "actor": ACTOR}
    activity = parse_activity(
        follow(type="Undo", actor={"type": "Person", "id": ACTOR}, object=inner)
    )
    assert activity.actor == ACTOR
    assert activity.object == inner
    assert activity.object_id == "https://social.example/follows/9"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"id": None}, "missing_id"),
        ({"type": None}, "missing_type"),
        ({"type": []}, "missing_type"),
        ({"actor": None}, "missing_actor"),
        ({"actor": {"type": "Person"}}, "missing_actor"),
        ({"actor": [ACTOR, "https://social.example/users/bob"]}, "missing_actor"),
        ({"actor": "javascript:alert(1)"}, "bad_url"),
        ({"actor": "https://alice@social.example/users/alice"}, "bad_url"),
        ({"id": "social.example/activities/1"}, "bad_url"),
        ({"id": "https://elsewhere.example/activities/1"}, "origin_mismatch"),
        ({"object": "javascript:alert(1)"}, "bad_url"),
        ({"target": "ftp://social.example/x"}, "bad_url"),
        ({"to": ["data:,x"]}, "bad_url"),
        ({"to": [f"https://social.example/u/{n}" for n in range(MAX_ADDRESSES + 1)]}, "too_large"),
        ({"published": "2024-03-01T10:00:00"}, "bad_time"),
        ({"published": "yesterday"}, "bad_time"),
    ],
)
def test_activity_refusals(changes: dict[str, Any], code: str) -> None:
    assert refusal(parse_activity, follow(**changes)) == code


def test_activity_that_is_not_an_object() -> None:
    bad: Any = ["not", "an", "object"]
    assert refusal(parse_activity, bad) == "not_an_object"


# --- parse_actor and keys -----------------------------------------------------------------


def test_actor_fields() -> None:
    remote = parse_actor(
        actor(
            endpoints={"sharedInbox": "https://social.example/inbox"},
            name="<b>Alice</b> &amp; <script>alert(1)</script>friends",
            summary='<p onclick="x()">Hi <a href="javascript:alert(1)">there</a></p>',
            icon=[{"type": "Image", "url": "https://social.example/a.png"}],
            url={"type": "Link", "href": "https://social.example/@alice"},
            alsoKnownAs=["https://old.example/users/alice", "javascript:void(0)"],
            manuallyApprovesFollowers=True,
            discoverable=None,
        )
    )
    assert remote.shared_inbox == "https://social.example/inbox"
    assert remote.name == "Alice & friends"
    assert remote.summary == '<p>Hi <a rel="nofollow noopener noreferrer">there</a></p>'
    assert remote.icon == "https://social.example/a.png"
    assert remote.url == "https://social.example/@alice"
    assert remote.also_known_as == ("https://old.example/users/alice",)
    assert remote.manually_approves_followers is True
    assert remote.discoverable is None
    assert (remote.public_key_id, remote.public_key_owner) == (f"{ACTOR}#main-key", ACTOR)


def test_long_names_are_truncated_not_refused() -> None:
    remote = parse_actor(actor(name="x" * 10_000))
    assert remote.name == "x" * MAX_NAME_CHARS


def test_oversized_summary_is_refused() -> None:
    assert refusal(parse_actor, actor(summary="a" * (MAX_CONTENT_BYTES + 1))) == "too_large"
    assert refusal(parse_actor, actor(summary="é" * (MAX_CONTENT_BYTES // 2 + 1))) == "too_large"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"inbox": None}, "missing_inbox"),
        ({"inbox": "javascript:alert(1)"}, "bad_url"),
        ({"type": "Note"}, "wrong_type"),
        ({"id": None}, "missing_id"),
        ({"movedTo": "data:,x"}, "bad_url"),
    ],
)
def test_actor_refusals(changes: dict[str, Any], code: str) -> None:
    assert refusal(parse_actor, actor(**changes)) == code


def test_the_key_owned_by_the_actor_is_chosen_from_a_list() -> None:
    keys = [
        {"id": "https://other.example/k", "owner": "https://other.example/", "publicKeyPem": "x"},
        {"id": f"{ACTOR}#k2", "owner": ACTOR, "publicKeyPem": PEM},
    ]
    assert parse_actor(actor(publicKey=keys)).public_key_id == f"{ACTOR}#k2"
    assert parse_public_key(actor(publicKey=keys)) == (f"{ACTOR}#k2", ACTOR, PEM)
    assert parse_public_key(actor(publicKey=keys[:1]))[0] == "https://other.example/k"


def test_a_standalone_key_document() -> None:
    key = {"id": f"{ACTOR}/main-key", "type": "Key", "owner": ACTOR, "publicKeyPem": PEM}
    assert parse_public_key(key) == (f"{ACTOR}/main-key", ACTOR, PEM)


@pytest.mark.parametrize(
    "doc",
    [
        actor(publicKey=None),
        actor(publicKey={"id": f"{ACTOR}#main-key", "owner": ACTOR}),
        actor(publicKey={"owner": ACTOR, "publicKeyPem": PEM}),
        {"id": f"{ACTOR}#main-key", "publicKeyPem": PEM},
    ],
)
def test_incomplete_keys_are_refused(doc: dict[str, Any]) -> None:
    assert refusal(parse_public_key, doc) == "missing_key"


# --- parse_event --------------------------------------------------------------------------


def test_minimal_event() -> None:
    parsed = parse_event(event())
    assert parsed.name == "Picnic"
    assert parsed.starts_at == datetime(2030, 6, 1, 10, tzinfo=UTC)
    assert parsed.starts_at.utcoffset() == timedelta(hours=2)
    assert (parsed.ends_at, parsed.place_name, parsed.address, parsed.online_url) == (
        None,
        None,
        None,
        None,
    )
    assert parsed.status == "scheduled"
    assert parsed.content == ""


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"startTime": "2030-06-01T12:00:00"}, "bad_time"),
        ({"endTime": "2030-06-01T14:00:00"}, "bad_time"),
        ({"endTime": "2030-06-01T11:00:00+02:00"}, "bad_time"),
        ({"startTime": None}, "missing_start_time"),
        ({"startTime": 1700000000}, "bad_time"),
        ({"name": None}, "missing_name"),
        ({"name": "<p> </p>"}, "missing_name"),
        ({"type": "Note"}, "wrong_type"),
        ({"content": "x" * (MAX_CONTENT_BYTES + 1)}, "too_large"),
        ({"attributedTo": "javascript:x"}, "bad_url"),
    ],
)
def test_event_refusals(changes: dict[str, Any], code: str) -> None:
    assert refusal(parse_event, event(**changes)) == code


def test_event_name_is_plain_and_content_sanitised() -> None:
    parsed = parse_event(
        event(
            name="<h1>Big</h1> <img src=x onerror=alert(1)>party",
            content='<p style="color:red">Come<script>steal()</script></p>',
        )
    )
    assert parsed.name == "Big party"
    assert parsed.content == "<p>Come</p>"


def test_name_from_name_map() -> None:
    assert parse_event(event(name=None, nameMap={"fr": "Pique-nique"})).name == "Pique-nique"


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"eventStatus": "https://w3id.org/fep/8a8e#EventCancelled"}, "cancelled"),
        ({"eventStatus": "EventPostponed"}, "tentative"),
        ({"eventStatus": "https://schema.org/EventRescheduled"}, "scheduled"),
        ({"status": "CANCELLED"}, "cancelled"),
        ({"ical:status": "TENTATIVE"}, "tentative"),
        ({"status": "CONFIRMED", "ical:status": "CANCELLED"}, "scheduled"),
        ({"eventStatus": "Whatever", "status": "cancelled"}, "cancelled"),
        ({"status": "on fire"}, "scheduled"),
    ],
)
def test_event_status_sources(changes: dict[str, Any], status: str) -> None:
    assert parse_event(event(**changes)).status == status


@pytest.mark.parametrize(
    ("location", "place", "address", "online"),
    [
        ({"type": "Place", "name": "Hall", "address": "1 Main St"}, "Hall", "1 Main St", None),
        (
            {
                "type": "Place",
                "name": "Hall",
                "address": {
                    "type": "PostalAddress",
                    "streetAddress": "1 Main St",
                    "postalCode": 12345,
                    "addressLocality": "Town",
                    "addressCountry": None,
                },
            },
            "Hall",
            "1 Main St, 12345 Town",
            None,
        ),
        (
            {"type": "VirtualLocation", "url": "https://meet.example/r"},
            None,
            None,
            "https://meet.example/r",
        ),
        (
            [
                {"type": "VirtualLocation", "url": "javascript:alert(1)"},
                {"type": "VirtualLocation", "url": "https://meet.example/r"},
                {"type": "Place", "name": "<b>Hall</b>"},
                {"type": "Place", "name": "Second hall"},
            ],
            "Hall",
            None,
            "https://meet.example/r",
        ),
        ({"name": "Colosseo"}, "Colosseo", None, None),
        ("https://places.example/1", None, None, None),
        ({"type": "Place", "address": "<b>Rue</b>\n  Principale"}, None, "Rue Principale", None),
    ],
)
def test_event_locations(
    location: Any, place: str | None, address: str | None, online: str | None
) -> None:
    parsed = parse_event(event(location=location))
    assert (parsed.place_name, parsed.address, parsed.online_url) == (place, address, online)


def test_online_link_from_mobilizon_website_attachment() -> None:
    attachment = [
        {"type": "Link", "name": "Another link", "href": "https://other.example/"},
        {"type": "Link", "name": "Website", "href": "https://meet.example/room"},
    ]
    assert parse_event(event(attachment=attachment)).online_url == "https://meet.example/room"


@pytest.mark.parametrize(
    ("changes", "capacity", "remaining", "participants"),
    [
        ({"maximumAttendeeCapacity": 0}, None, None, None),
        ({"maximumAttendeeCapacity": 50, "remainingAttendeeCapacity": 8}, 50, 8, None),
        ({"maximumAttendeeCapacity": True, "participantCount": "3"}, None, None, None),
        ({"maximumAttendeeCapacity": -1, "remainingAttendeeCapacity": -4}, None, None, None),
        ({"participantCount": 7, "attendees": {"totalItems": 9}}, None, None, 7),
        ({"attendees": {"type": "Collection", "totalItems": 9}}, None, None, 9),
    ],
)
def test_event_counts(
    changes: dict[str, Any], capacity: int | None, remaining: int | None, participants: int | None
) -> None:
    parsed = parse_event(event(**changes))
    assert (parsed.capacity, parsed.remaining_capacity, parsed.participant_count) == (
        capacity,
        remaining,
        participants,
    )


@pytest.mark.parametrize(
    ("given_zone", "zone"),
    [
        ("Europe/Rome", "Europe/Rome"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Mars/Olympus_Mons", None),
        ("../../etc/passwd", None),
        ("Europe", None),
        (3600, None),
    ],
)
def test_event_timezone(given_zone: Any, zone: str | None) -> None:
    assert parse_event(event(timezone=given_zone)).timezone == zone


def test_event_join_mode_and_anonymous_participation() -> None:
    parsed = parse_event(event(joinMode="restricted", anonymousParticipationEnabled=True))
    assert (parsed.join_mode, parsed.anonymous_participation) == ("restricted", True)
    parsed = parse_event(event(joinMode="bribe", anonymousParticipationEnabled="yes"))
    assert (parsed.join_mode, parsed.anonymous_participation) == (None, False)


# --- parse_note ---------------------------------------------------------------------------


def test_note_fields() -> None:
    parsed = parse_note(
        note(
            type=["Page"],
            name="  Thread <i>title</i> ",
            audience="https://forum.example/c/main",
            to=[PUBLIC],
            inReplyTo={"id": "https://forum.example/post/1", "type": "Page"},
            published="2021-02-26T12:35:34.292626Z",
            updated="2021-02-26T13:35:34+01:00",
        )
    )
    assert parsed.type == "Page"
    assert parsed.name == "Thread title"
    assert parsed.audience == ("https://forum.example/c/main",)
    assert parsed.in_reply_to == "https://forum.example/post/1"
    assert parsed.updated == datetime(2021, 2, 26, 13, 35, 34, tzinfo=timezone(timedelta(hours=1)))


def test_note_content_from_content_map() -> None:
    parsed = parse_note(note(content=None, contentMap={"en": "<p>hello<script>x</script></p>"}))
    assert parsed.content == "<p>hello</p>"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"attributedTo": None}, "missing_attributed_to"),
        ({"type": "Event"}, "wrong_type"),
        ({"type": "Person"}, "wrong_type"),
        ({"id": "javascript:alert(1)"}, "bad_url"),
        ({"inReplyTo": "javascript:alert(1)"}, "bad_url"),
        ({"updated": "2021-02-26"}, "bad_time"),
        ({"content": "<p>" + "a" * MAX_CONTENT_BYTES + "</p>"}, "too_large"),
    ],
)
def test_note_refusals(changes: dict[str, Any], code: str) -> None:
    assert refusal(parse_note, note(**changes)) == code
