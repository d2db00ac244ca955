"""Moving in: a person's export zip from another Kunveno node, read safely and recreated here.

The zip is read in memory and never extracted: only the members named here are read, each
capped both by what it declares and by what it really decompresses to. Nothing in the zip is
trusted for identity: the old actor is fetched live from its origin, and must name the
importing account among its aliases (``alsoKnownAs``). What is recreated:

- the display name (from ``actor.json``);
- the old actor among the new account's aliases (merged with those already set);
- a Follow of every community they belonged to or asked to join, and of every account they
  followed (``communities.json``, ``following.json``);
- a Join of every future, not cancelled gathering they registered for (``registrations.json``),
  each checked live at its origin.

- their posts (``outbox.json``), as imported posts of theirs with their original ids, dates and
  communities (a post belongs to a community's timeline over there; here it is their archive,
  ``GET /api/v1/me/imported-posts``).

Things of this node itself are skipped (the person registers or joins here directly). Every
step is idempotent: an import twice asks nothing twice and brings no post twice.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from uuid import UUID

from kunveno.adapters.activitypub.fetching import FetchError
from kunveno.adapters.activitypub.processor import event_details
from kunveno.adapters.activitypub.sanitize import plain_text
from kunveno.adapters.activitypub.vocabulary import InvalidActivity, parse_json_bounded
from kunveno.application.accounts import ImportedPostData
from kunveno.application.log import Decision
from kunveno.application.outgoing import Target
from kunveno.bootstrap import Container
from kunveno.domain.actor import Actor
from kunveno.domain.errors import DomainError, PermissionDenied
from kunveno.domain.outgoing import RequestKind
from kunveno.domain.person import MAX_ALIASES, MAX_DISPLAY_NAME, Person
from kunveno.domain.post import MAX_CONTENT

MAX_ARCHIVE_BYTES = 50 * 1024 * 1024  # the request body
MAX_MEMBER_BYTES = 10 * 1024 * 1024  # each member read, decompressed
MAX_MEMBERS = 1000  # entries in the zip's directory
MAX_TARGETS = 500  # follows, and joins, asked for by one import
_DEPTH = 32
_SKIPPED_REGISTRATIONS = frozenset({"cancelled", "declined"})
_SKIPPED_REQUESTS = frozenset({"withdrawn", "rejected"})


class ArchiveRefused(DomainError):
    """The zip is not one this node reads: ``status`` says how the HTTP answer calls it."""

    code = "bad_archive"

    def __init__(self, detail: str, *, status: int = 400, code: str = "bad_archive") -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


POSTS_PER_COMMAND = 200


class NotYours(PermissionDenied):
    code = "not_yours"


@dataclass(frozen=True)
class Archive:
    """What an export says, checked for shape only (never for identity)."""

    old_actor: str
    name: str | None
    follows: tuple[str, ...]
    joins: tuple[tuple[str, datetime | None], ...]  # gathering URL, start as the zip says
    posts: tuple[ImportedPostData, ...]


@dataclass
class Imported:
    follows: int = 0
    registrations: int = 0
    posts: int = 0
    skipped: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


# -- reading the zip ----------------------------------------------------------------------


def read_archive(body: bytes) -> Archive:
    if len(body) > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused(
            f"the archive is over {MAX_ARCHIVE_BYTES} bytes", status=413, code="too_large"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as error:
        raise ArchiveRefused(f"not a readable zip: {error}", code="corrupt_zip") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise ArchiveRefused(f"more than {MAX_MEMBERS} entries", code="not_an_export")
        for info in members:
            _check_name(info.filename)
        names = {info.filename: info for info in members}
        if "actor.json" not in names:
            raise ArchiveRefused("no actor.json: not a Kunveno export", code="not_an_export")

        def document(name: str) -> dict[str, Any] | None:
            info = names.get(name)
            return None if info is None else _json(name, _read(archive, info))

        actor = document("actor.json")
        assert actor is not None
        return Archive(
            old_actor=_old_actor(actor),
            name=_optional_text(actor, "name", "actor.json"),
            follows=_follows(document("communities.json"), document("following.json")),
            joins=_joins(document("registrations.json")),
            posts=_posts(document("outbox.json")),
        )


def _check_name(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if (
        name.startswith(("/", "\\"))
        or path.is_absolute()
        or ".." in path.parts
        or (len(name) > 1 and name[1] == ":")
        or "\x00" in name
    ):
        raise ArchiveRefused(f"unsafe path in the zip: {name[:200]!r}", code="unsafe_path")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    too_large = f"{info.filename} is over {MAX_MEMBER_BYTES} bytes"
    if info.file_size > MAX_MEMBER_BYTES:
        raise ArchiveRefused(too_large, status=413, code="too_large")
    try:
        with archive.open(info) as member:
            data = member.read(MAX_MEMBER_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError) as error:
        raise ArchiveRefused(f"{info.filename}: {error}", code="corrupt_zip") from None
    except RuntimeError as error:  # encrypted members
        raise ArchiveRefused(f"{info.filename}: {error}", code="corrupt_zip") from None
    if len(data) > MAX_MEMBER_BYTES:
        raise ArchiveRefused(too_large, status=413, code="too_large")
    return data


def _invalid(detail: str) -> ArchiveRefused:
    return ArchiveRefused(detail, status=422, code="invalid_export")


def _json(name: str, data: bytes) -> dict[str, Any]:
    try:
        return parse_json_bounded(data, max_bytes=MAX_MEMBER_BYTES, max_depth=_DEPTH)
    except InvalidActivity as error:
        raise _invalid(f"{name}: {error.code}: {error.detail}") from None


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise _invalid(f"{where}: not a URL")
    if len(value) > 2000:
        raise _invalid(f"{where}: URL too long")
    return value


def _optional_text(document: dict[str, Any], key: str, where: str) -> str | None:
    value = document.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{where}: {key} is not text")


def _items(document: dict[str, Any] | None, key: str, where: str) -> list[dict[str, Any]]:
    if document is None:
        return []
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _invalid(f"{where}: {key} is not a list of objects")
    return value


def _old_actor(actor: dict[str, Any]) -> str:
    return _url(actor.get("id"), "actor.json: id")


def _follows(
    communities: dict[str, Any] | None, following: dict[str, Any] | None
) -> tuple[str, ...]:
    found: list[str] = []
    for key in ("memberships", "join_requests"):
        for index, item in enumerate(_items(communities, key, "communities.json")):
            found.append(_url(item.get("url"), f"communities.json: {key}[{index}].url"))
    for index, item in enumerate(_items(following, "following", "following.json")):
        if item.get("status") not in _SKIPPED_REQUESTS:
            found.append(_url(item.get("actor"), f"following.json: following[{index}].actor"))
    unique = tuple(dict.fromkeys(found))
    if len(unique) > MAX_TARGETS:
        raise _invalid(f"more than {MAX_TARGETS} accounts and communities to follow")
    return unique


def _joins(registrations: dict[str, Any] | None) -> tuple[tuple[str, datetime | None], ...]:
    found: dict[str, datetime | None] = {}
    for index, item in enumerate(_items(registrations, "registrations", "registrations.json")):
        where = f"registrations.json: registrations[{index}]"
        gathering = item.get("gathering")
        if not isinstance(gathering, dict):
            raise _invalid(f"{where}.gathering is not an object")
        if item.get("status") in _SKIPPED_REGISTRATIONS or gathering.get("status") == "CANCELLED":
            continue
        found[_url(gathering.get("id"), f"{where}.gathering.id")] = _instant(
            gathering.get("startTime"), f"{where}.gathering.startTime"
        )
    for index, item in enumerate(_items(registrations, "remote_joins", "registrations.json")):
        if item.get("status") not in _SKIPPED_REQUESTS:
            url = _url(item.get("gathering"), f"registrations.json: remote_joins[{index}]")
            found.setdefault(url, None)
    if len(found) > MAX_TARGETS:
        raise _invalid(f"more than {MAX_TARGETS} gatherings to join")
    return tuple(found.items())


def _instant(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"{where}: not a time") from None
    return moment if moment.tzinfo is not None else None


def _posts(outbox: dict[str, Any] | None) -> tuple[ImportedPostData, ...]:
    """The Notes of the outbox's Creates: original id, text, date and where they were said."""
    posts: dict[str, ImportedPostData] = {}
    for item in _items(outbox, "orderedItems", "outbox.json"):
        note = item.get("object")
        if item.get("type") != "Create" or not isinstance(note, dict):
            continue
        if note.get("type") != "Note":
            continue
        url = _url(note.get("id"), "outbox.json: a Note's id")
        content = note.get("content")
        text = plain_text(content)[:MAX_CONTENT] if isinstance(content, str) else ""
        if not text.strip():
            continue
        audience = note.get("audience")
        posts[url] = ImportedPostData(
            original_url=url,
            content=text,
            published=_instant(note.get("published"), "outbox.json: a Note's published"),
            context=audience if isinstance(audience, str) else None,
        )
    return tuple(posts.values())


# -- recreating it here --------------------------------------------------------------------


def import_archive(node: Container, person_id: UUID, body: bytes) -> Imported:
    """Check the zip, prove the old account is the caller's, then recreate what it lists."""
    archive = read_archive(body)
    person = node.accounts.load(person_id)
    own_url = node.urls.person(person.username)
    if _is_local(node, archive.old_actor):
        raise _invalid("the exported account is on this node already")
    try:
        old = node.resolver.actor(archive.old_actor, refresh=True)
    except (FetchError, InvalidActivity) as error:
        raise NotYours(
            f"cannot fetch {archive.old_actor} to check it is yours: {error.code}"
        ) from None
    if own_url not in old.also_known_as:
        raise NotYours(
            f"{old.id} does not name {own_url} among its aliases: add it there first "
            "(PUT /api/v1/me/aliases on that server), then import again"
        )

    done = Imported(posts=len(archive.posts))
    for start in range(0, len(archive.posts), POSTS_PER_COMMAND):
        node.accounts.import_posts(
            person_id, list(archive.posts[start : start + POSTS_PER_COMMAND])
        )
    aliases = list(dict.fromkeys([*person.also_known_as, old.id]))[:MAX_ALIASES]
    node.accounts.set_aliases(person_id, aliases)
    done.aliases = aliases
    if archive.name and archive.name.strip() and archive.name.strip() != person.display_name:
        _rename(node, person_id, archive.name)

    for url in archive.follows:
        if _is_local(node, url):
            done.skipped.append(url)
            continue
        try:
            actor = node.resolver.actor(url)
        except (FetchError, InvalidActivity):
            done.skipped.append(url)
            continue
        node.outgoing.request(RequestKind.FOLLOW, person_id, Target(actor.id, actor.inbox))
        done.follows += 1

    now = node.clock.now()
    for url, starts in archive.joins:
        if _is_local(node, url) or (starts is not None and starts <= now):
            done.skipped.append(url)
            continue
        try:
            event, _ = node.resolver.event(url)
            organiser = node.resolver.actor(event.attributed_to or "")
        except (FetchError, InvalidActivity):
            done.skipped.append(url)
            continue
        if event.status == "cancelled" or event.starts_at <= now:
            done.skipped.append(url)
            continue
        node.outgoing.hear_gathering(event.id, organiser.id, event_details(event), by=organiser.id)
        node.outgoing.request(RequestKind.JOIN, person_id, Target(event.id, organiser.inbox))
        done.registrations += 1
    return done


def _is_local(node: Container, url: str) -> bool:
    return url == node.urls.base or url.startswith(f"{node.urls.base}/")


def _rename(node: Container, person_id: UUID, name: str) -> None:
    def decide() -> Decision[None]:
        person = node.log.load(Person, person_id, "person")
        person.change_profile(
            name.strip()[:MAX_DISPLAY_NAME], actor=Actor.person(person_id), at=node.clock.now()
        )
        return [person], None

    node.commands.run(decide)
