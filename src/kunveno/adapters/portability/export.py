"""A person's complete export: a zip of what they did and what the node holds about them.

Streamed: every entry is written as it is read, a page of the personal-data index at a time
(``PersonalData``), and the stored events of a page are fetched by their positions in one
query, so memory is bounded by the page whatever the length of the history. Left out, always:
secrets (a password's hash, a sign-in token's id, a cancel link's hash), other people's
personal data (a value of theirs, or which local person acted, shown as ``person`` only), and
anything about who else registered for a gathering the person organised.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from itertools import islice
from pathlib import Path
from typing import IO, Any, TypeVar, cast
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic
from icalendar import Calendar

from kunveno.adapters.activitypub import documents
from kunveno.adapters.http.calendar import gathering_event as calendar_event
from kunveno.adapters.persistence.stored_events import StoredEvents
from kunveno.bootstrap import Container
from kunveno.domain.base import DomainEvent
from kunveno.domain.errors import NotFound
from kunveno.domain.person import SECRET_TOPICS
from kunveno.domain.pii import PII
from kunveno.domain.post import Post
from kunveno.domain.registration import Registration
from kunveno.projections.personal import PAGE, PersonalData
from kunveno.projections.store import Row, from_timestamp

Progress = Callable[[str, int, int], None]
T = TypeVar("T")
U = TypeVar("U")

FILES = (
    "README.txt",
    "actor.json",
    "outbox.json",
    "events.jsonl",
    "gatherings.ics",
    "communities.json",
    "registrations.json",
    "followers.json",
    "following.json",
)
# Never exported, wherever they appear in a payload.
SECRET_FIELDS = frozenset({"password_hash", "cancel_token_hash"})
_META = frozenset({"originator_id", "originator_version", "timestamp", "actor", "originator_topic"})
_SIGN_IN_TOPICS = "kunveno.access_token."
_POSTED = get_topic(Post.Published)
_REGISTERED = get_topic(Registration.Submitted)
# Export files hold personal data at rest: one of the same state is reused (a download of it
# resumes) while younger than half this, and every one older is deleted.
KEEP_SECONDS = 24 * 3600


def write_export(
    container: Container, person_id: UUID, sink: IO[bytes], progress: Progress | None = None
) -> int:
    """Write the person's export as a zip to ``sink``; answer the number of events in it."""
    person = container.queries.person(str(person_id))
    if person is None:
        raise NotFound("no such person")
    data = PersonalData(container.read_store)
    actor_url = container.urls.person(person["username"])
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with _entry(archive, "README.txt") as out:
            out.write(_readme(container, person).encode())
        with _entry(archive, "actor.json") as out:
            pem = container.keys.key_pair(f"person:{person_id}").public_pem
            out.write(_json(documents.person_actor(container.urls, person, pem), indent=True))
        with _entry(archive, "events.jsonl") as out:
            events = _write_events(container, data, person_id, out, progress)
        with _entry(archive, "outbox.json") as out:
            _write_outbox(container, data, str(person_id), actor_url, out)
        with _entry(archive, "gatherings.ics") as out:
            _write_calendar(container, data, person, out)
        with _entry(archive, "communities.json") as out:
            document = _JsonObject(out)
            document.array("memberships", _memberships(container, data, str(person_id)))
            document.array("join_requests", _join_requests(container, data, str(person_id)))
            document.close()
        with _entry(archive, "registrations.json") as out:
            document = _JsonObject(out)
            document.array("registrations", _registrations(container, data, str(person_id)))
            document.array("remote_joins", _requests(data, str(person_id), "join"))
            document.close()
        with _entry(archive, "followers.json") as out:
            document = _JsonObject(out)
            document.field("actor", actor_url)
            document.array("followers", _followers(data, str(person_id)))
            document.close()
        with _entry(archive, "following.json") as out:
            document = _JsonObject(out)
            document.field("actor", actor_url)
            document.array("following", _requests(data, str(person_id), "follow"))
            document.close()
    return events


def export_file(container: Container, person_id: UUID) -> Path:
    """The person's export as of now, as a file under ``data_dir/exports``.

    Named by the person and the log position every read model has folded, so asking again
    while nothing changed answers the same file (and a download of it can be resumed).
    """
    container.fresh_reads()
    folded = min((s.position for s in container.projections.status()), default=0)
    directory = exports_dir(container)
    _sweep(directory)
    path = directory / f"{person_id}-{folded}.zip"
    if not _reusable(path):
        # Named for the person too: their erasure deletes ``{person_id}*`` here.
        descriptor, partial = tempfile.mkstemp(
            prefix=f"{person_id}-", suffix=".part", dir=directory
        )
        try:
            with os.fdopen(descriptor, "wb") as sink:
                write_export(container, person_id, sink)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return path


def exports_dir(container: Container) -> Path:
    directory = container.settings.data_dir / "exports"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def _reusable(path: Path) -> bool:
    """Young enough that no sweep deletes it while it is being sent."""
    try:
        return path.stat().st_mtime > time.time() - KEEP_SECONDS / 2
    except FileNotFoundError:
        return False


def _sweep(directory: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in directory.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue  # another request swept it first


# -- events.jsonl -------------------------------------------------------------------------


def _write_events(
    container: Container,
    data: PersonalData,
    person_id: UUID,
    out: IO[bytes],
    progress: Progress | None,
) -> int:
    total = data.count(str(person_id))
    fetch = StoredEvents(container.read_store, container.log)
    me = f"person:{person_id}"
    written = 0
    if progress is not None:
        progress("export", 0, total)
    pages = _pages(data.events(str(person_id)), PAGE)
    for page, stored in _ahead(
        pages, lambda page: fetch.by_position([int(row["position"]) for row in page])
    ):
        for row in page:
            position = int(row["position"])
            found = stored.get(position)
            if found is None:
                continue  # indexed, yet not in the log: never expected, never invented
            event = container.log.mapper.to_domain_event(found)
            assert isinstance(event, DomainEvent)
            out.write(_json(_record(position, event, person_id, me)) + b"\n")
            written += 1
        total = max(total, written)  # the log may grow while we read
        if progress is not None:
            progress("export", written, total)
    return written


def _record(position: int, event: DomainEvent, subject: UUID, me: str) -> dict[str, Any]:
    topic = get_topic(type(event))
    record: dict[str, Any] = {
        "position": position,
        "topic": topic,
        "originator_id": str(event.originator_id),
        "originator_version": event.originator_version,
        "timestamp": event.timestamp.isoformat(),
        "actor": event.actor if event.actor == me else _someone(event.actor),
    }
    if topic.startswith(_SIGN_IN_TOPICS):
        # A token's stream id is derived from the token's hash: shown only as a stand-in
        # that pairs a token's issue with its revocation.
        alias = hashlib.sha256(f"kunveno token {event.originator_id}".encode()).hexdigest()
        record["originator_id"] = f"token-{alias[:16]}"
    if topic in SECRET_TOPICS:
        record["payload"] = None
        record["withheld"] = "secret"
    else:
        record["payload"] = {
            key: _plain(value, subject)
            for key, value in vars(event).items()
            if key not in _META and key not in SECRET_FIELDS
        }
    return record


def _someone(actor: str) -> str:
    """Another local person (or agent) is named by kind only: who they are is theirs."""
    kind = actor.partition(":")[0]
    return kind if kind in ("person", "agent") else actor


def _plain(value: Any, subject: UUID) -> Any:
    """A payload value as JSON: personal data of the subject revealed, anyone else's not."""
    if isinstance(value, PII):
        return _plain(value.value, subject) if value.subject == subject else None
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return _plain(value.value, subject)
    if isinstance(value, dict):
        return {
            str(key): _plain(item, subject)
            for key, item in value.items()
            if key not in SECRET_FIELDS
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, subject) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- outbox.json: the Mastodon account-archive shape --------------------------------------


def _write_outbox(
    container: Container, data: PersonalData, person_id: str, actor_url: str, out: IO[bytes]
) -> None:
    document = _JsonObject(out)
    document.field("@context", "https://www.w3.org/ns/activitystreams")
    document.field("id", "outbox.json")
    document.field("type", "OrderedCollection")
    total = document.array("orderedItems", _activities(container, data, person_id, actor_url))
    document.field("totalItems", total)
    document.close()


def _activities(
    container: Container, data: PersonalData, person_id: str, actor_url: str
) -> Iterator[dict[str, Any]]:
    """Their posts as Create{Note} and their registrations as Join{Event}, oldest first."""
    urls = container.urls

    def things(page: list[Row]) -> tuple[dict[str, Row], dict[str, Row]]:
        posts = data.posts([r["originator_id"] for r in page if r["topic"] == _POSTED])
        joined = data.registrations([r["originator_id"] for r in page if r["topic"] != _POSTED])
        return posts, joined

    pages = _pages(data.events(person_id, (_POSTED, _REGISTERED)), PAGE)
    for page, (posts, joined) in _ahead(pages, things):
        for row in page:
            if row["topic"] == _POSTED:
                post = posts.get(row["originator_id"])
                if post is not None and not post["deleted"]:
                    yield _create(container, post, actor_url)
            else:
                registration = joined.get(row["originator_id"])
                if registration is not None:
                    yield {
                        "id": urls.activity(f"{registration['id']}-1"),
                        "type": "Join",
                        "actor": actor_url,
                        "published": _instant(registration["registered_at"]),
                        "object": _gathering(container, registration),
                    }


def _create(container: Container, post: Row, actor_url: str) -> dict[str, Any]:
    community = container.urls.community(post["community_slug"])
    note = documents.post_note(
        container.urls,
        post_id=post["id"],
        author=actor_url,
        community=community,
        content=post["content"],
        published=post["published_at"],
        in_reply_to=post["in_reply_to"],
    )
    if post["community_visibility"] != "public":
        note["to"], note["cc"] = [community], []  # said to the members only
    if post["edited_at"]:
        note["updated"] = _instant(post["edited_at"])
    return {
        "id": f"{container.urls.activity(post['id'] + '-1')}-create",
        "type": "Create",
        "actor": actor_url,
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


def _gathering(container: Container, row: Row) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "Event",
        "id": container.urls.gathering(row["gathering_id"]),
        "name": row["title"],
        "startTime": _instant(row["starts_at"]),
        "endTime": _instant(row["ends_at"]),
        "timezone": row["timezone"],
        "status": "CANCELLED" if row["gathering_status"] == "cancelled" else "CONFIRMED",
        "audience": container.urls.community(row["community_slug"]),
    }
    if row["location"]:
        event["location"] = {"type": "Place", "name": row["location"]}
    if row["online_url"]:
        event["url"] = row["online_url"]
    return event


# -- the other files ------------------------------------------------------------------------


def _write_calendar(container: Container, data: PersonalData, person: Row, out: IO[bytes]) -> None:
    """An iCalendar file written one VEVENT at a time (the same VEVENTs as a community's feed,
    so a calendar that has both sees one gathering once)."""
    calendar = Calendar()
    calendar.add("prodid", "-//Kunveno//kunveno//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{person['display_name']}: gatherings")
    opening, _, closing = bytes(calendar.to_ical()).rpartition(b"END:VCALENDAR")
    out.write(opening)
    for row in data.gatherings(str(person["id"])):
        out.write(bytes(calendar_event(container, row).to_ical()))
    out.write(b"END:VCALENDAR" + closing)


def _memberships(
    container: Container, data: PersonalData, person_id: str
) -> Iterator[dict[str, Any]]:
    for row in data.memberships(person_id):
        yield {
            "community": row["slug"],
            "name": row["name"],
            "url": container.urls.community(row["slug"]),
            "visibility": row["visibility"],
            "role": row["role"],
            "since": _instant(row["since"]),
        }


def _join_requests(
    container: Container, data: PersonalData, person_id: str
) -> Iterator[dict[str, Any]]:
    for row in data.join_requests(person_id):
        yield {
            "community": row["slug"],
            "name": row["name"],
            "url": container.urls.community(row["slug"]),
            "requested_at": _instant(row["requested_at"]),
        }


def _registrations(
    container: Container, data: PersonalData, person_id: str
) -> Iterator[dict[str, Any]]:
    for page in _pages(data.events(person_id, (_REGISTERED,)), PAGE):
        found = data.registrations([row["originator_id"] for row in page])
        for row in page:
            registration = found.get(row["originator_id"])
            if registration is not None:
                yield {
                    "id": registration["id"],
                    "status": registration["status"],
                    "registered_at": _instant(registration["registered_at"]),
                    "changed_at": _maybe_instant(registration["changed_at"]),
                    "gathering": _gathering(container, registration),
                }


def _requests(data: PersonalData, person_id: str, kind: str) -> Iterator[dict[str, Any]]:
    key = "actor" if kind == "follow" else "gathering"
    for row in data.requests(person_id, kind):
        yield {key: row["target"], "status": row["status"], "since": _instant(row["changed_at"])}


def _followers(data: PersonalData, person_id: str) -> Iterator[dict[str, Any]]:
    for row in data.followers(person_id):
        since = _instant(row["changed_at"])
        yield {"actor": row["follower"], "status": row["status"], "since": since}


def _readme(container: Container, person: Row) -> str:
    exported = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return README.format(
        username=person["username"],
        node=container.urls.base,
        exported=exported,
        actor=container.urls.person(person["username"]),
    )


README = """\
Your data on Kunveno
====================

Everything the Kunveno node {node} holds about @{username} ({actor}),
as exported on {exported}.

Files
-----

actor.json          You as an ActivityPub actor (a "Person"), as other servers see you.
outbox.json         What you said and did, as an ActivityStreams OrderedCollection in the
                    shape of a Mastodon account archive: your posts as Create activities of
                    Notes (as last edited; deleted posts are left out) and your registrations
                    as Join activities of Events, oldest first.
events.jsonl        The complete, auditable timeline: one JSON object per line, in the order
                    the node recorded them, for every stored event you caused or that is about
                    you (position in the log, topic, stream id and version, time, who acted,
                    and the full payload).
gatherings.ics      Every gathering you registered for or organised, as an iCalendar file.
communities.json    The communities you belong to (with your role) and the ones you asked to
                    join.
registrations.json  Your registrations for gatherings here (status and the gathering), and
                    the gatherings of other servers you asked to join.
followers.json      The accounts of other servers that follow you.
following.json      The accounts of other servers you follow (or asked to).

Importing it elsewhere
----------------------

- Another Kunveno node takes this zip as it is (POST /api/v1/me/import) to recreate your
  profile, your follows of communities and accounts, and your registrations for future
  gatherings. First name your new account as an alias of this one here (PUT
  /api/v1/me/aliases): that is how the other node knows the export is yours. Then move this
  account (POST /api/v1/me/move), and your followers follow you there. Your posts are
  counted by the import but stay here.
- Tools that read Mastodon account archives read actor.json and outbox.json.
- Any calendar application (Thunderbird, Apple Calendar, Google Calendar, Nextcloud...)
  imports gatherings.ics.
- following.json lists actor URLs: paste one into the search of another server's app to
  follow that account again.
- events.jsonl is JSON Lines: one object a line, readable by jq, Python, spreadsheets.

What is not in it
-----------------

- Secrets: your password's hash, your sign-in tokens (each is shown by a stand-in id only),
  cancel links' hashes. In events.jsonl, an event that holds only a secret has its payload
  withheld ("withheld": "secret").
- Other people's data: when someone else of this node acted on something of yours (an
  organiser approving your registration, a moderator deleting a post), the actor is shown as
  "person" only; personal values of anyone else are left out (null). Who registered for the
  gatherings you organised is theirs, not yours: it is not in your export.
- Your private key: it stays on this server.
"""


# -- writing -------------------------------------------------------------------------------


@contextmanager
def _entry(archive: zipfile.ZipFile, name: str) -> Iterator[IO[bytes]]:
    with archive.open(name, "w", force_zip64=True) as raw, _Buffered(raw) as out:
        yield out


class _Buffered(io.BufferedWriter):
    """An entry written in large chunks: a zip entry compresses and checksums each write
    apart, and an export is made of hundreds of thousands of short lines."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(cast(io.RawIOBase, _Unclosed(raw)), buffer_size=1 << 18)


class _Unclosed(io.RawIOBase):
    """The zip entry as a raw stream, closed by the archive's own context, not by ours."""

    def __init__(self, entry: IO[bytes]) -> None:
        self._entry = entry

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._entry.write(data)


def _json(value: Any, *, indent: bool = False) -> bytes:
    """UTF-8 JSON (orjson: the export is mostly JSON encoding, and it is several times faster
    than the standard library at it)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2 if indent else 0)


class _JsonObject:
    """A JSON object written as it goes: plain fields, and arrays streamed item by item."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._fields = 0
        out.write(b"{")

    def _key(self, key: str) -> None:
        self._out.write((b",\n" if self._fields else b"\n") + b"  " + _json(key) + b": ")
        self._fields += 1

    def field(self, key: str, value: Any) -> None:
        self._key(key)
        self._out.write(_json(value))

    def array(self, key: str, items: Iterable[Any]) -> int:
        self._key(key)
        self._out.write(b"[")
        count = 0
        for item in items:
            self._out.write((b",\n    " if count else b"\n    ") + _json(item))
            count += 1
        self._out.write(b"\n  ]" if count else b"]")
        return count

    def close(self) -> None:
        self._out.write(b"\n}\n")


def _pages(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while page := list(islice(iterator, size)):
        yield page


def _ahead(pages: Iterable[list[T]], fetch: Callable[[list[T]], U]) -> Iterator[tuple[list[T], U]]:
    """Each page with what ``fetch`` found for it, the next one read (page and fetch) while
    this one is written: the database's time overlaps ours, one page ahead, so memory stays
    bounded by two pages."""
    source = iter(pages)

    def read() -> tuple[list[T], U] | None:
        page = next(source, None)
        return None if page is None else (page, fetch(page))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-read") as reader:
        future = reader.submit(read)
        while (found := future.result()) is not None:
            future = reader.submit(read)
            yield found


def _instant(text: str) -> str:
    return from_timestamp(text).isoformat().replace("+00:00", "Z")


def _maybe_instant(text: str | None) -> str | None:
    return None if text is None else _instant(text)
