"""What the public pages need beyond the node's queries: a few read-model questions about the
visitor (their registration, their pending request, who wrote a post), and the one remote read
a page makes, a server's WebFinger subscribe template, through the node's guarded client.

Plain reads of the read models and of other servers: no command, no domain object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from kunveno.adapters.activitypub.fetching import FetchError, SafeHttp
from kunveno.adapters.activitypub.vocabulary import InvalidActivity, parse_json_bounded
from kunveno.projections.store import ReadStore, Row

ACTIVE = ("confirmed", "waitlisted", "pending")
SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"
HANDLE = re.compile(r"^(?:acct:|@)?([^@\s/?#]+)@([^@\s/?#]+)$")
HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$")
JRD_ACCEPT = "application/jrd+json, application/json"


@dataclass(frozen=True)
class Author:
    """Who wrote a post, as a page shows it: a name, a link, and the agent's name if one did."""

    name: str
    url: str | None = None
    agent: str | None = None


class PageReads:
    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def registration_of(self, gathering_id: str, person_id: str) -> Row | None:
        """The person's active registration for the gathering (the latest one), or None."""
        rows = self._store.query(
            "SELECT * FROM rm_registrations WHERE gathering_id = %s AND person_id = %s "
            "AND status IN ('confirmed', 'waitlisted', 'pending') "
            "ORDER BY registered_at DESC, id LIMIT 1",
            (gathering_id, person_id),
        )
        return rows[0] if rows else None

    def asked_to_join(self, community_id: str, person_id: str) -> bool:
        rows = self._store.query(
            "SELECT 1 AS yes FROM rm_join_requests WHERE community_id = %s AND person_id = %s",
            (community_id, person_id),
        )
        return bool(rows)

    def makers(self, thing_ids: list[str]) -> dict[str, str]:
        """thing id -> who caused its first event (``agent:ID`` when an agent scheduled it)."""
        rows = self._where_in(
            "SELECT originator_id AS id, actor FROM rm_trail WHERE originator_version = 1 "
            "AND originator_id",
            thing_ids,
        )
        return {key: str(row["actor"]) for key, row in rows.items()}

    def authors(self, actors: list[str]) -> dict[str, Author]:
        """``person:ID`` / ``agent:ID`` / ``remote:URL`` -> how the page names them."""
        found: dict[str, Author] = {}
        people = self._where_in(
            "SELECT id, display_name, username FROM rm_people WHERE id", _refs(actors, "person")
        )
        agents = self._where_in("SELECT id, name FROM rm_agents WHERE id", _refs(actors, "agent"))
        for actor in actors:
            kind, _, ref = actor.partition(":")
            if kind == "person" and ref in people:
                row = people[ref]
                found[actor] = Author(row["display_name"], f"/users/{row['username']}")
            elif kind == "agent":
                name = str(agents.get(ref, {}).get("name", "?"))
                found[actor] = Author(name, agent=name)
            elif kind == "remote":
                found[actor] = Author(_short(ref), ref if _is_web(ref) else None)
            else:
                found[actor] = Author("?")
        return found

    def _where_in(self, select: str, ids: list[str]) -> dict[str, Row]:
        """``select`` (ending with a column) ``IN`` the ids, by the rows' ``id``."""
        ids = sorted(set(ids))[:500]
        if not ids:
            return {}
        marks = ", ".join(["%s"] * len(ids))
        rows = self._store.query(f"{select} IN ({marks})", tuple(ids))
        return {str(row["id"]): row for row in rows}


def _refs(actors: list[str], kind: str) -> list[str]:
    return [a.partition(":")[2] for a in actors if a.startswith(kind + ":")]


def _is_web(url: str) -> bool:
    return urlsplit(url).scheme in ("https", "http")


def _short(url: str) -> str:
    parts = urlsplit(url)
    tail = parts.path.rstrip("/").rpartition("/")[2].lstrip("@")
    return f"{tail}@{parts.hostname}" if tail and parts.hostname else url


# -- another server: its subscribe template ----------------------------------------------------


class CannotAsk(Exception):
    """The handle's server could not be asked, or did not answer what we can use."""


def parse_handle(text: str) -> tuple[str, str] | None:
    """``name@host`` (with or without ``@`` or ``acct:`` before it), lowercased host."""
    found = HANDLE.fullmatch(text.strip())
    if found is None or not HOST.fullmatch(found.group(2).lower()):
        return None
    return found.group(1), found.group(2).lower()


def parse_server(text: str) -> str | None:
    """A server as people type it (``social.example``, ``https://social.example/``, or their
    handle ``me@social.example``) -> its host, or None."""
    text = text.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    handle = parse_handle(text)
    host = handle[1] if handle else text
    return host if HOST.fullmatch(host) else None


def subscribe_template(http: SafeHttp, handle: tuple[str, str], *, allow_http: bool) -> str | None:
    """The person's server's remote-follow template (``...{uri}``), or None if it has none.

    Asked over https (and http where the node allows it, in development and tests), through
    the same guarded client as every other fetch: no private address, bounded size and time.
    """
    name, host = handle
    resource = quote(f"acct:{name}@{host}", safe=":@")
    failure: Exception = CannotAsk(host)
    for scheme in ("https", "http") if allow_http else ("https",):
        url = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
        try:
            body, _ = http.get_bytes(url, accept=JRD_ACCEPT, max_bytes=65_536)
            return _template(parse_json_bounded(body, max_bytes=65_536), allow_http)
        except (FetchError, InvalidActivity) as error:
            failure = error
    raise CannotAsk(host) from failure


def _template(jrd: dict[str, Any], allow_http: bool) -> str | None:
    schemes = ("https", "http") if allow_http else ("https",)
    for link in jrd.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == SUBSCRIBE:
            template = link.get("template")
            # Only a web address is ever put in a link: never javascript: or data:.
            if (
                isinstance(template, str)
                and "{uri}" in template
                and urlsplit(template).scheme in schemes
                and len(template) < 2000
            ):
                return template
    return None


def fill(template: str, uri: str) -> str:
    return template.replace("{uri}", quote(uri, safe=""))
