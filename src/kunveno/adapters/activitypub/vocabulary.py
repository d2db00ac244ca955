"""Inbound ActivityStreams 2 read into small typed values, tolerantly and safely.

Peers send compact JSON, not JSON-LD, and each in its own dialect (INTEROP §11): a property may
be a string, an object or a list; ``@context`` may be missing; Mobilizon, Gancio and FEP-8a8e
shape an Event differently. The parsers accept all of that and refuse what is unsafe: oversized
or deeply nested bodies, URLs that are not plain http(s), unbounded fields (SECURITY I-5), and
HTML outside the allow-list (I-6). Nothing here does I/O; deciding whether a parsed activity may
be trusted (signature, ownership, refetching embedded objects) is the inbox's job.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NoReturn
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import idna

from kunveno.adapters.activitypub.sanitize import plain_text, sanitize_html

MAX_BODY_BYTES = 1_048_576
MAX_DEPTH = 32
MAX_NAME_CHARS = 200
MAX_ADDRESS_CHARS = 500
MAX_CONTENT_BYTES = 100_000
MAX_ADDRESSES = 1000
MAX_URL_CHARS = 4096
MAX_PEM_CHARS = 16_384

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Mastodon accepts the compacted forms on input (INTEROP §7.2); we read them as the full IRI.
_PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

ACTOR_TYPES = frozenset({"Person", "Group", "Service", "Application", "Organization"})
NOTE_TYPES = frozenset(
    {"Note", "Page", "Article", "Question", "Image", "Video", "Audio", "Document"}
)
JOIN_MODES = frozenset({"free", "restricted", "invite", "external", "none"})

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_TIMEZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+){0,3}")

# The string alternative may end without its closing quote, so a match never fails and never
# backtracks: an unterminated string cannot make the scan quadratic.
_JSON_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")

# FEP-8a8e eventStatus terms, by the last segment of their IRI.
_EVENT_STATUS = {
    "EventScheduled": "scheduled",
    "EventRescheduled": "scheduled",
    "EventMovedOnline": "scheduled",
    "EventPostponed": "tentative",
    "EventTentative": "tentative",
    "EventCancelled": "cancelled",
}
_ICAL_STATUS = {"CONFIRMED": "scheduled", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}


class InvalidActivity(Exception):
    """A payload we refuse; ``code`` is stable and machine-readable, ``detail`` is for logs."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# --- JSON ---------------------------------------------------------------------------------


def parse_json_bounded(
    body: bytes, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """A JSON object from a request or response body, refused before parsing when too big or
    too deep, so hostile input never reaches the recursive decoder."""
    if len(body) > max_bytes:
        raise InvalidActivity("too_large", f"body of {len(body)} bytes exceeds {max_bytes}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidActivity("json_invalid", "body is not UTF-8") from exc
    _check_depth(body, max_depth)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError, and ints beyond the digit limit
        raise InvalidActivity("json_invalid", str(exc)[:200]) from exc
    if not isinstance(value, dict):
        raise InvalidActivity("not_an_object", f"top-level JSON is a {type(value).__name__}")
    return value


def _check_depth(body: bytes, max_depth: int) -> None:
    # UTF-8 never puts ASCII bytes inside a multi-byte character, so brackets can be counted on
    # the raw bytes once strings are gone; both steps run in C.
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= max_depth:
        return
    depth = 0
    for byte in brackets:
        depth = depth + 1 if byte in _OPENERS else depth - 1
        if depth > max_depth:
            raise InvalidActivity("too_deep", f"JSON nested deeper than {max_depth}")


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidActivity("json_invalid", f"{name} is not JSON")


# --- URLs and addressing ------------------------------------------------------------------


def origin(url: str) -> str:
    """``scheme://host[:port]``, lowercased, default port dropped, host IDNA-encoded.

    Only plain http(s) URLs with a host and no userinfo have an origin; anything else is
    refused, because every URL we keep may later be compared, fetched or delivered to.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise InvalidActivity("bad_url", "not a URL string of sensible length")
    # urlsplit silently drops tabs and newlines; a URL carrying them is not one we trust.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidActivity("bad_url", f"whitespace or control character in {url[:100]!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidActivity("bad_url", f"unparseable URL {url[:100]!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidActivity("bad_url", f"scheme {scheme!r} is not http(s)")
    if "@" in parts.netloc:
        raise InvalidActivity("bad_url", "userinfo in URL")
    host = _normalise_host(parts.hostname or "")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    if port == 0:
        raise InvalidActivity("bad_url", "port 0")
    return f"{scheme}://{host}:{port}"


def _normalise_host(host: str) -> str:
    if not host:
        raise InvalidActivity("bad_url", "empty host")
    if ":" in host:
        return _ipv6_literal(host)
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidActivity("bad_url", "host is not a valid IDNA name") from exc
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidActivity("bad_url", f"invalid host {host[:100]!r}")
    return host


def _ipv6_literal(host: str) -> str:
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError as exc:
        raise InvalidActivity("bad_url", "invalid IPv6 literal") from exc
    if address.scope_id is not None:
        raise InvalidActivity("bad_url", "IPv6 zone id in URL")
    return f"[{address.compressed}]"


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share an origin; a URL without a valid origin shares none."""
    try:
        return origin(a) == origin(b)
    except InvalidActivity:
        return False


def _has_origin(url: str) -> bool:
    try:
        origin(url)
    except InvalidActivity:
        return False
    return True


def id_of(value: Any) -> str | None:
    """The id a property value names: a URL string, or an object's ``id`` (a Link's ``href``)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("id", "href"):
            candidate = value.get(key)
            if isinstance(candidate, str) and candidate:
                return candidate
    return None


def ids_of(value: Any) -> list[str]:
    """The ids a property names, whether it holds one value or a list of them."""
    items = value if isinstance(value, list) else [value]
    return [ident for ident in map(id_of, items) if ident is not None]


def first_type(value: dict[str, Any]) -> str | None:
    """The first type named by ``type``, which AS2 allows to be a string or a list."""
    kind = value.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if isinstance(item, str) and item), None)
    return kind if isinstance(kind, str) and kind else None


def is_public(addressing: Iterable[str]) -> bool:
    return any(address in _PUBLIC_ALIASES for address in addressing)


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    id: str
    type: str
    actor: str
    object_id: str | None
    object: dict[str, Any] | None
    target: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: tuple[str, ...]
    published: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class RemoteActor:
    id: str
    type: str
    inbox: str
    shared_inbox: str | None
    outbox: str | None
    followers: str | None
    preferred_username: str | None
    name: str | None
    summary: str | None
    url: str | None
    icon: str | None
    public_key_id: str | None
    public_key_owner: str | None
    public_key_pem: str | None
    manually_approves_followers: bool
    also_known_as: tuple[str, ...]
    moved_to: str | None
    discoverable: bool | None


@dataclass(frozen=True)
class RemoteEvent:
    id: str
    name: str
    content: str
    url: str | None
    starts_at: datetime
    ends_at: datetime | None
    timezone: str | None
    place_name: str | None
    address: str | None
    online_url: str | None
    join_mode: str | None
    capacity: int | None
    remaining_capacity: int | None
    participant_count: int | None
    status: str
    attributed_to: str | None
    anonymous_participation: bool


@dataclass(frozen=True)
class RemoteNote:
    id: str
    type: str
    attributed_to: str
    content: str
    name: str | None
    in_reply_to: str | None
    audience: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    published: datetime | None
    updated: datetime | None


# --- parsers ------------------------------------------------------------------------------


def parse_activity(doc: dict[str, Any]) -> Activity:
    """An activity's envelope. Its id and actor must share an origin (SECURITY I-2); whether
    the signer is the actor, and whether an embedded object may be trusted, is checked later."""
    kind = _required_type(doc)
    activity_id = _required_url(doc, "id", "missing_id")
    actor = _required_url(doc, "actor", "missing_actor", single=True)
    if origin(activity_id) != origin(actor):
        raise InvalidActivity("origin_mismatch", f"activity {activity_id} is not on {actor}'s host")
    embedded = doc.get("object")
    return Activity(
        id=activity_id,
        type=kind,
        actor=actor,
        object_id=_optional_url(doc, "object"),
        object=embedded if isinstance(embedded, dict) else None,
        target=_optional_url(doc, "target"),
        to=_addressing(doc, "to"),
        cc=_addressing(doc, "cc"),
        audience=_addressing(doc, "audience"),
        published=_time(doc, "published"),
        raw=doc,
    )


def parse_actor(doc: dict[str, Any]) -> RemoteActor:
    """An actor document. Without ``inbox`` it is no account (Mastodon agrees, INTEROP §3)."""
    kind = _required_type(doc, ACTOR_TYPES)
    actor_id = _required_url(doc, "id", "missing_id")
    inbox = _required_url(doc, "inbox", "missing_inbox")
    key = _key_entry(doc, actor_id) or {}
    return RemoteActor(
        id=actor_id,
        type=kind,
        inbox=inbox,
        shared_inbox=_shared_inbox(doc.get("endpoints")),
        outbox=_optional_url(doc, "outbox"),
        followers=_optional_url(doc, "followers"),
        preferred_username=_name(doc.get("preferredUsername")),
        name=_name(_localised(doc, "name")),
        summary=_optional_html(_localised(doc, "summary"), "summary"),
        url=_display_url(doc.get("url")),
        icon=_image_url(doc.get("icon")),
        public_key_id=_optional_url(key, "id"),
        public_key_owner=_optional_url(key, "owner"),
        public_key_pem=_pem(key.get("publicKeyPem")),
        manually_approves_followers=doc.get("manuallyApprovesFollowers") is True,
        also_known_as=_valid_urls(doc.get("alsoKnownAs"), "alsoKnownAs"),
        moved_to=_optional_url(doc, "movedTo"),
        discoverable=_bool_or_none(doc.get("discoverable")),
    )


def parse_public_key(doc: dict[str, Any]) -> tuple[str, str, str]:
    """(key id, owner, PEM) from an actor's ``publicKey`` or from a standalone key document,
    such as the partial actor GoToSocial serves at its key URL (INTEROP §3)."""
    _require_object(doc)
    entry = _key_entry(doc, id_of(doc.get("id"))) if "publicKey" in doc else doc
    if entry is None:
        raise InvalidActivity("missing_key", "no publicKey object")
    key_id = _required_url(entry, "id", "missing_key")
    owner_key = "owner" if "owner" in entry else "controller"
    owner = _required_url(entry, owner_key, "missing_key", single=True)
    pem = _pem(entry.get("publicKeyPem"))
    if pem is None:
        raise InvalidActivity("missing_key", "no publicKeyPem")
    return key_id, owner, pem


def parse_event(doc: dict[str, Any]) -> RemoteEvent:
    """An Event as Mobilizon, Gancio or FEP-8a8e shape it (INTEROP §9)."""
    _required_type(doc, frozenset({"Event"}))
    event_id = _required_url(doc, "id", "missing_id")
    name = _name(_localised(doc, "name"))
    if name is None:
        raise InvalidActivity("missing_name", "an Event needs a name")
    starts_at = _time(doc, "startTime")
    if starts_at is None:
        raise InvalidActivity("missing_start_time", "an Event needs a startTime")
    ends_at = _time(doc, "endTime")
    if ends_at is not None and ends_at < starts_at:
        raise InvalidActivity("bad_time", "endTime is before startTime")
    place, virtual_url = _locations(doc.get("location"))
    return RemoteEvent(
        id=event_id,
        name=name,
        content=_optional_html(_localised(doc, "content"), "content") or "",
        url=_display_url(doc.get("url")),
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=_timezone(doc.get("timezone")),
        place_name=_name(place.get("name")) if place else None,
        address=_address_line(place.get("address")) if place else None,
        online_url=virtual_url or _website_link(doc.get("attachment")),
        join_mode=_choice(doc.get("joinMode"), JOIN_MODES),
        # Mobilizon sends 0 for "no limit" (INTEROP §9.1).
        capacity=_count(doc.get("maximumAttendeeCapacity"), minimum=1),
        remaining_capacity=_count(doc.get("remainingAttendeeCapacity")),
        participant_count=_participant_count(doc),
        status=_event_status(doc),
        attributed_to=_optional_url(doc, "attributedTo"),
        anonymous_participation=doc.get("anonymousParticipationEnabled") is True,
    )


def parse_note(doc: dict[str, Any]) -> RemoteNote:
    """A Note, or a Page/Article (a FEP-1b12 thread) and the other types Mastodon shows."""
    kind = _required_type(doc, NOTE_TYPES)
    return RemoteNote(
        id=_required_url(doc, "id", "missing_id"),
        type=kind,
        attributed_to=_required_url(doc, "attributedTo", "missing_attributed_to"),
        content=_optional_html(_localised(doc, "content"), "content") or "",
        name=_name(_localised(doc, "name")),
        in_reply_to=_optional_url(doc, "inReplyTo"),
        audience=_addressing(doc, "audience"),
        to=_addressing(doc, "to"),
        cc=_addressing(doc, "cc"),
        published=_time(doc, "published"),
        updated=_time(doc, "updated"),
    )


# --- field readers ------------------------------------------------------------------------


def _require_object(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise InvalidActivity("not_an_object", f"expected an object, got {type(doc).__name__}")


def _required_type(doc: dict[str, Any], allowed: frozenset[str] | None = None) -> str:
    _require_object(doc)
    kind = first_type(doc)
    if kind is None:
        raise InvalidActivity("missing_type", "no type")
    if allowed is not None and kind not in allowed:
        raise InvalidActivity("wrong_type", f"type {kind[:100]!r} is not one of {sorted(allowed)}")
    return kind


def _checked(url: str, field: str) -> str:
    try:
        origin(url)
    except InvalidActivity as exc:
        raise InvalidActivity("bad_url", f"{field}: {exc.detail}") from exc
    return url


def _first_id(value: Any) -> str | None:
    if isinstance(value, list):
        return next((ident for ident in map(id_of, value) if ident is not None), None)
    return id_of(value)


def _required_url(doc: dict[str, Any], key: str, code: str, *, single: bool = False) -> str:
    value = doc.get(key)
    # Two actors (or owners) on one activity would leave open whom to hold responsible.
    if single and isinstance(value, list) and len(ids_of(value)) > 1:
        raise InvalidActivity(code, f"{key} names more than one")
    ident = _first_id(value)
    if ident is None:
        raise InvalidActivity(code, f"no {key}")
    return _checked(ident, key)


def _optional_url(doc: dict[str, Any], key: str) -> str | None:
    ident = _first_id(doc.get(key))
    return None if ident is None else _checked(ident, key)


def _display_url(value: Any) -> str | None:
    """A link shown to people only: a bad one is dropped rather than failing the document."""
    ident = _first_id(value)
    return ident if ident is not None and _has_origin(ident) else None


def _image_url(value: Any) -> str | None:
    image = value[0] if isinstance(value, list) and value else value
    if isinstance(image, dict):
        return _display_url(image.get("url"))
    return _display_url(image)


def _bounded_list(value: Any, field: str) -> list[Any]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    if len(items) > MAX_ADDRESSES:
        raise InvalidActivity("too_large", f"{field} has {len(items)} entries")
    return items


def _addressing(doc: dict[str, Any], key: str) -> tuple[str, ...]:
    addresses = (
        PUBLIC if ident in _PUBLIC_ALIASES else _checked(ident, key)
        for ident in ids_of(_bounded_list(doc.get(key), key))
    )
    return tuple(dict.fromkeys(addresses))


def _valid_urls(value: Any, field: str) -> tuple[str, ...]:
    """Claims such as ``alsoKnownAs``: a malformed entry can never match an actor, so it is
    dropped instead of costing the whole document."""
    idents = ids_of(_bounded_list(value, field))
    return tuple(dict.fromkeys(ident for ident in idents if _has_origin(ident)))


def _time(doc: dict[str, Any], key: str) -> datetime | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidActivity("bad_time", f"{key} is not an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidActivity("bad_time", f"{key}: {value!r} is not ISO 8601") from exc
    if moment.utcoffset() is None:
        raise InvalidActivity("bad_time", f"{key}: {value!r} has no UTC offset")
    return moment


def _localised(doc: dict[str, Any], key: str) -> Any:
    """``name``, else the first entry of ``nameMap`` (and so on for content and summary)."""
    value = doc.get(key)
    if value is None and isinstance(by_language := doc.get(f"{key}Map"), dict):
        return next((text for text in by_language.values() if isinstance(text, str)), None)
    return value


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return plain_text(value)[:MAX_NAME_CHARS].rstrip() or None


def _optional_html(value: Any, field: str) -> str | None:
    if not isinstance(value, str):
        return None
    if len(value) > MAX_CONTENT_BYTES or len(value.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise InvalidActivity("too_large", f"{field} exceeds {MAX_CONTENT_BYTES} bytes")
    return sanitize_html(value) or None


def _pem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if len(value) > MAX_PEM_CHARS:
        raise InvalidActivity("too_large", "publicKeyPem is implausibly long")
    return value


def _key_entry(doc: dict[str, Any], owner: str | None) -> dict[str, Any] | None:
    """The actor's key: the first whose owner is the actor, else the first given."""
    keys = [
        key for key in _bounded_list(doc.get("publicKey"), "publicKey") if isinstance(key, dict)
    ]
    owned = (key for key in keys if owner is not None and id_of(key.get("owner")) == owner)
    return next(owned, keys[0] if keys else None)


def _shared_inbox(endpoints: Any) -> str | None:
    return _optional_url(endpoints, "sharedInbox") if isinstance(endpoints, dict) else None


def _bool_or_none(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _choice(value: Any, allowed: frozenset[str]) -> str | None:
    return value if isinstance(value, str) and value in allowed else None


def _count(value: Any, *, minimum: int = 0) -> int | None:
    # bool is an int in Python; "true" is not a capacity.
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    return None


def _participant_count(doc: dict[str, Any]) -> int | None:
    count = _count(doc.get("participantCount"))
    attendees = doc.get("attendees")
    if count is None and isinstance(attendees, dict):
        count = _count(attendees.get("totalItems"))
    return count


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value: Any) -> str | None:
    """An IANA zone name we can use, else None: the offset in startTime is no substitute."""
    if isinstance(value, str) and len(value) <= 64 and _TIMEZONE_NAME.fullmatch(value):
        return value if value in _known_timezones() else None
    return None


def _event_status(doc: dict[str, Any]) -> str:
    term = doc.get("eventStatus")
    if isinstance(term, str) and (status := _EVENT_STATUS.get(re.split(r"[#/:]", term)[-1])):
        return status
    # Mobilizon's order on input: status, then the legacy literal "ical:status" (INTEROP §9.1).
    for key in ("status", "ical:status"):
        value = doc.get(key)
        if isinstance(value, str) and (status := _ICAL_STATUS.get(value.strip().upper())):
            return status
    return "scheduled"


def _location_items(value: Any) -> Iterator[dict[str, Any]]:
    return (item for item in _bounded_list(value, "location") if isinstance(item, dict))


def _is_place(item: dict[str, Any]) -> bool:
    kind = first_type(item)
    # Gancio before 1.x sent an untyped {"name": ...} as its place.
    return kind == "Place" or (kind is None and ("name" in item or "address" in item))


def _locations(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The first supported physical place and the first online location (FEP-8a8e hybrid)."""
    place = next((item for item in _location_items(value) if _is_place(item)), None)
    online = (
        _display_url(item.get("url") or item.get("href"))
        for item in _location_items(value)
        if first_type(item) == "VirtualLocation"
    )
    return place, next((url for url in online if url is not None), None)


def _website_link(value: Any) -> str | None:
    """Mobilizon's online address: the attachment Link it names "Website" (INTEROP §9.1)."""
    for item in _bounded_list(value, "attachment"):
        is_website = isinstance(item, dict) and first_type(item) == "Link"
        name = item.get("name") if is_website else None
        if isinstance(name, str) and name.strip().casefold() == "website":
            url = _display_url(item.get("href"))
            if url is not None:
                return url
    return None


def _address_part(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return plain_text(value) if isinstance(value, str) else ""


def _address_line(value: Any) -> str | None:
    """One line from a PostalAddress or from FEP-8a8e's plain-string address."""
    if isinstance(value, dict):
        locality = " ".join(
            part
            for part in (
                _address_part(value.get("postalCode")),
                _address_part(value.get("addressLocality")),
            )
            if part
        )
        parts = (
            _address_part(value.get("streetAddress")),
            locality,
            _address_part(value.get("addressRegion")),
            _address_part(value.get("addressCountry")),
        )
        line = ", ".join(part for part in parts if part)
    else:
        line = _address_part(value)
    return line[:MAX_ADDRESS_CHARS].rstrip() or None
