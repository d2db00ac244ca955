"""Our actors and gatherings as ActivityStreams documents, in the compact shape peers read.

One fixed, inline ``@context`` (INTEROP §11): the ActivityStreams and security contexts by
URL, which every peer has cached, and every extension term (Mastodon's, Mobilizon's,
schema.org's) spelled out inline, so no peer has to fetch a context to read us.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

from kunveno.projections.store import Row, from_timestamp

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AP_MEDIA_TYPE = "application/activity+json"
ACCEPTED_MEDIA_TYPES = ("application/activity+json", "application/ld+json")

CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "toot": "http://joinmastodon.org/ns#",
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "sc": "http://schema.org#",
        "mz": "https://joinmobilizon.org/ns#",
        "ical": "http://www.w3.org/2002/12/cal/ical#",
        "PostalAddress": "sc:PostalAddress",
        "address": {"@id": "sc:address", "@type": "sc:PostalAddress"},
        "streetAddress": "sc:streetAddress",
        "joinMode": {"@id": "mz:joinMode", "@type": "mz:joinModeType"},
        "anonymousParticipationEnabled": {
            "@id": "mz:anonymousParticipationEnabled",
            "@type": "sc:Boolean",
        },
        "participantCount": {"@id": "mz:participantCount", "@type": "sc:Integer"},
        "participationMessage": {"@id": "mz:participationMessage", "@type": "sc:Text"},
        "timezone": {"@id": "mz:timezone", "@type": "sc:Text"},
        "isOnline": {"@id": "mz:isOnline", "@type": "sc:Boolean"},
        "maximumAttendeeCapacity": "sc:maximumAttendeeCapacity",
        "remainingAttendeeCapacity": "sc:remainingAttendeeCapacity",
        "status": {"@id": "ical:status", "@type": "ical:ParticipationStatus"},
        "memberCount": {"@id": "mz:memberCount", "@type": "sc:Integer"},
        "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
        "movedTo": {"@id": "as:movedTo", "@type": "@id"},
        "webfinger": "https://purl.archive.org/socialweb/webfinger#webfinger",
        "PropertyValue": "sc:PropertyValue",
        "value": "sc:value",
    },
]

# An agent's handle: ``agent.`` and the first 12 hex digits of its id. The dot keeps it out of
# the one namespace people and communities share (usernames are ``[a-z0-9_]``, slugs
# ``[a-z0-9_-]``), so no one can claim an agent's handle, and an agent never takes theirs.
AGENT_HANDLE = re.compile(r"agent\.([0-9a-f]{12})")


class Urls:
    """Where each of our things lives: one URL each, built from the node's base URL."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.host = urlsplit(self.base).netloc

    @property
    def instance(self) -> str:
        return f"{self.base}/actor"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def person(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def community(self, slug: str) -> str:
        return f"{self.base}/communities/{slug}"

    def gathering(self, gathering_id: str) -> str:
        return f"{self.base}/gatherings/{gathering_id}"

    def agent(self, agent_id: str) -> str:
        return f"{self.base}/agents/{agent_id}"

    def post(self, post_id: str) -> str:
        return f"{self.base}/posts/{post_id}"

    def activity(self, activity_key: str) -> str:
        return f"{self.base}/activities/{activity_key}"

    def acct(self, name: str) -> str:
        return f"acct:{name}@{self.host}"


def html_paragraphs(text: str) -> str:
    """Plain text (what people type here) as the HTML that ``content`` and ``summary`` carry."""
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )


def _actor(
    urls: Urls, *, url: str, kind: str, name: str, username: str, summary: str, public_pem: str
) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "id": url,
        "type": kind,
        "preferredUsername": username,
        "webfinger": f"{username}@{urls.host}",
        "name": name,
        "summary": html_paragraphs(summary),
        "url": url,
        "inbox": f"{url}/inbox",
        "outbox": f"{url}/outbox",
        "followers": f"{url}/followers",
        "following": f"{url}/following",
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "publicKey": {"id": f"{url}#main-key", "owner": url, "publicKeyPem": public_pem},
    }


def community_actor(urls: Urls, row: Row, public_pem: str, *, member_count: int) -> dict[str, Any]:
    url = urls.community(row["slug"])
    document = _actor(
        urls,
        url=url,
        kind="Group",
        name=row["name"],
        username=row["slug"],
        summary=row["summary"],
        public_pem=public_pem,
    )
    document |= {
        "manuallyApprovesFollowers": row["membership"] != "open",
        "discoverable": row["visibility"] == "public",
        "memberCount": member_count,
        "published": _instant(row["founded_at"]),
    }
    return document


def person_actor(urls: Urls, row: Row, public_pem: str) -> dict[str, Any]:
    document = _actor(
        urls,
        url=urls.person(row["username"]),
        kind="Person",
        name=row["display_name"],
        username=row["username"],
        summary="",
        public_pem=public_pem,
    )
    # Private by default: people are not listed in directories unless they choose to be.
    document |= {
        "manuallyApprovesFollowers": False,
        "discoverable": False,
        "indexable": False,
        "published": _instant(row["registered_at"]),
        "alsoKnownAs": json.loads(row["also_known_as"]),
    }
    if row["moved_to"]:
        document["movedTo"] = row["moved_to"]
    return document


def instance_actor(urls: Urls, public_pem: str) -> dict[str, Any]:
    """The FEP-2677 application actor; fetchable unsigned, and the signer of our fetches."""
    host = urls.host
    document = _actor(
        urls,
        url=urls.instance,
        kind="Application",
        name="Kunveno",
        username=host,
        summary=f"The Kunveno node at {host}",
        public_pem=public_pem,
    )
    # Followed by Gancio and relays to hear every public gathering: accepted at once.
    document |= {"manuallyApprovesFollowers": False, "url": f"{urls.base}/"}
    return document


def agent_handle(agent_id: str) -> str:
    return f"agent.{UUID(agent_id).hex[:12]}"


def agent_actor(urls: Urls, row: Row, community: Row, public_pem: str) -> dict[str, Any]:
    """A community's agent as a ``Service``: Mastodon and GoToSocial show it as a bot, and its
    profile says whose it is (``attributedTo`` the community's ``Group``)."""
    url = urls.agent(row["id"])
    group = urls.community(community["slug"])
    document = _actor(
        urls,
        url=url,
        kind="Service",
        name=row["name"],
        username=agent_handle(row["id"]),
        summary=row["description"],
        public_pem=public_pem,
    )
    link = f'<a href="{html.escape(group, quote=True)}">{html.escape(community["name"])}</a>'
    community_handle = html.escape(f"@{community['slug']}@{urls.host}")
    document |= {
        "summary": document["summary"] + f"<p>Agent of {link}, run by its admins.</p>",
        "attributedTo": group,
        # Nothing here accepts a follow of an agent: what it posts reaches people through
        # its community, which announces it (FEP-1b12).
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "indexable": False,
        "published": _instant(row["created_at"]),
        "attachment": [
            {
                "type": "PropertyValue",
                "name": "Agent of",
                "value": f'<a href="{html.escape(group, quote=True)}">{community_handle}</a>',
            },
            {"type": "PropertyValue", "name": "Run by", "value": "the community's admins"},
        ],
    }
    return document


def tombstone(url: str, former_type: str, deleted: str | None = None) -> dict[str, Any]:
    """What answers, with 410, for something of ours that is gone."""
    document: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": url,
        "type": "Tombstone",
        "formerType": former_type,
    }
    if deleted is not None:
        document["deleted"] = _instant(deleted)
    return document


def gathering_event(urls: Urls, row: Row) -> dict[str, Any]:
    """A gathering as the ``Event`` Mobilizon renders (INTEROP §9.1) and microblogs show."""
    url = urls.gathering(row["id"])
    community = urls.community(row["community_slug"])
    zone = ZoneInfo(row["timezone"])
    starts = from_timestamp(row["starts_at"]).astimezone(zone)
    ends = from_timestamp(row["ends_at"]).astimezone(zone)
    capacity = row["capacity"]
    confirmed = int(row["registration_count"])
    status = "CANCELLED" if row["status"] == "cancelled" else "CONFIRMED"
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": url,
        "type": "Event",
        "url": url,
        "name": row["title"],
        "summary": event_summary(row["title"], starts, row["timezone"], row["location"]),
        "content": html_paragraphs(row["description"]),
        "mediaType": "text/html",
        "startTime": starts.isoformat(),
        "endTime": ends.isoformat(),
        "timezone": row["timezone"],
        "joinMode": "restricted" if row["join_mode"] == "approval" else "free",
        "maximumAttendeeCapacity": capacity,
        "remainingAttendeeCapacity": None if capacity is None else max(0, capacity - confirmed),
        "participantCount": confirmed,
        "anonymousParticipationEnabled": bool(row["anonymous_registration"]),
        "status": status,
        "ical:status": status,
        "isOnline": row["online_url"] is not None and row["location"] is None,
        "attributedTo": community,
        "audience": community,
        "to": [AS_PUBLIC],
        "cc": [f"{community}/followers"],
        "published": _instant(row["scheduled_at"]),
    }
    document["location"] = _location(row["location"], row["online_url"])
    if row["online_url"]:
        document["attachment"] = [
            {"type": "Link", "mediaType": "text/html", "name": "Website", "href": row["online_url"]}
        ]
    return {key: value for key, value in document.items() if value is not None}


def post_note(
    urls: Urls,
    *,
    post_id: str,
    author: str,
    community: str,
    content: str,
    published: str,
    in_reply_to: str | None,
) -> dict[str, Any]:
    """A local post as a ``Note`` in its community (FEP-1b12: ``audience`` and the community
    addressed, so forum software files it under the group)."""
    note: dict[str, Any] = {
        "id": urls.post(post_id),
        "type": "Note",
        "attributedTo": author,
        "content": html_paragraphs(content),
        "mediaType": "text/html",
        "audience": community,
        "to": [AS_PUBLIC, community],
        "cc": [f"{community}/followers"],
        "published": _instant(published),
        "url": urls.post(post_id),
    }
    if in_reply_to is not None:
        note["inReplyTo"] = urls.post(in_reply_to)
    return note


def event_summary(title: str, starts: datetime, timezone: str, location: str | None) -> str:
    """The one line a microblog reader (Mastodon) shows for an Event."""
    when = starts.strftime("%a %d %b %Y, %H:%M")
    where = f" · {location}" if location else ""
    return f"{title} — {when} ({timezone}){where}"


def _location(place: str | None, online_url: str | None) -> Any:
    places: list[dict[str, Any]] = []
    if place:
        places.append(
            {
                "type": "Place",
                "name": place,
                "address": {"type": "PostalAddress", "streetAddress": place},
            }
        )
    if online_url:
        places.append({"type": "VirtualLocation", "url": online_url})
    if not places:
        return None
    return places[0] if len(places) == 1 else places


def _instant(text: str) -> str:
    return from_timestamp(text).isoformat().replace("+00:00", "Z")


def ordered_collection(url: str, total: int, items: list[Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": url,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if items is not None:
        document["orderedItems"] = items
    return document
