"""A community's gatherings as an iCalendar feed (RFC 5545), written by ``icalendar``."""

from __future__ import annotations

from icalendar import Calendar, Event

from kunveno.bootstrap import Container
from kunveno.projections.store import Row, from_timestamp


def community_calendar(node: Container, community: Row, gatherings: list[Row]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Kunveno//kunveno//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", community["name"])
    for row in gatherings:
        calendar.add_component(gathering_event(node, row))
    return bytes(calendar.to_ical())


def gathering_event(node: Container, row: Row) -> Event:
    event = Event()
    url = f"{node.settings.base_url}/gatherings/{row['id']}"
    host = node.settings.base_url.split("://", 1)[-1]
    event.add("uid", f"{row['id']}@{host}")
    event.add("summary", row["title"])
    event.add("dtstamp", from_timestamp(row["scheduled_at"]))
    event.add("dtstart", from_timestamp(row["starts_at"]))
    event.add("dtend", from_timestamp(row["ends_at"]))
    event.add("url", url)
    event.add("status", "CANCELLED" if row["status"] == "cancelled" else "CONFIRMED")
    if row["description"]:
        event.add("description", row["description"])
    location = row["location"] or row["online_url"]
    if location:
        event.add("location", location)
    return event
