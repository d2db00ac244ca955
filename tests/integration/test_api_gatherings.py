"""Gatherings through the API: listing windows, approval mode, seats, capacity, cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from api_helpers import (
    Headers,
    Json,
    assert_error,
    found,
    gathering,
    gathering_body,
    gathering_titles,
    join,
    me,
    my_registrations,
    register,
    schedule,
    sign_up,
)
from icalendar import Calendar


def participants(api: httpx.Client, gid: str, headers: Headers) -> list[tuple[str, str]]:
    """(username, status) of the named participants, as the organiser's view lists them."""
    answer = api.get(f"/api/v1/gatherings/{gid}/registrations", headers=headers)
    assert answer.status_code == 200, answer.text
    return [(p["username"], p["status"]) for p in answer.json()["participants"]]


def counts(api: httpx.Client, gid: str, headers: Headers | None = None) -> tuple[int, int, int]:
    """(confirmed, waitlisted, pending) as the gathering shows them."""
    seen = gathering(api, gid, headers)
    return seen["registration_count"], seen["waitlist_count"], seen["pending_count"]


def put(api: httpx.Client, gid: str, headers: Headers, body: Json) -> httpx.Response:
    return api.put(f"/api/v1/gatherings/{gid}", json=body, headers=headers)


def as_change(created: Json, **changes: Any) -> Json:
    """The full body of a PUT that keeps a gathering as it is but for ``changes``."""
    keep = (
        "title",
        "description",
        "starts_at",
        "ends_at",
        "timezone",
        "location",
        "online_url",
        "capacity",
        "anonymous_registration",
        "join_mode",
    )
    return {**{k: created[k] for k in keep}, **changes}


def test_listing_takes_a_from_to_window(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    for title, days in (("later", 20), ("past", -2), ("soon", 1), ("middle", 10)):
        schedule(api, olga, "menders", title=title, in_days=days)
    # Default: what is not over yet, soonest first.
    assert gathering_titles(api, "menders", olga) == ["soon", "middle", "later"]

    now = datetime.now(UTC)
    path = "/api/v1/communities/menders/gatherings"

    def window(**params: str) -> list[str]:
        answer = api.get(path, params=params, headers=olga)
        assert answer.status_code == 200, answer.text
        return [g["title"] for g in answer.json()]

    assert window(**{"from": (now + timedelta(days=5)).isoformat()}) == ["middle", "later"]
    assert window(to=(now + timedelta(days=5)).isoformat()) == ["soon"]
    assert window(
        **{
            "from": (now + timedelta(days=5)).isoformat(),
            "to": (now + timedelta(days=15)).isoformat(),
        }
    ) == ["middle"]
    assert window(**{"from": (now - timedelta(days=5)).isoformat()}) == [
        "past",
        "soon",
        "middle",
        "later",
    ]
    # Any offset names the same instant: 10 days ahead minus an hour, written in +05:00.
    plus_five = timezone(timedelta(hours=5))
    edge = (now + timedelta(days=10) - timedelta(hours=1)).astimezone(plus_five)
    assert window(to=edge.isoformat()) == ["soon"]
    assert window(to=(edge + timedelta(hours=2)).isoformat()) == ["soon", "middle"]
    assert_error(api.get(path, params={"from": "tomorrow"}), 422, "invalid_request")
    # An instant without an offset is ambiguous (it would depend on the server's zone).
    naive = (now + timedelta(days=5)).replace(tzinfo=None).isoformat()
    assert_error(api.get(path, params={"from": naive}), 422, "invalid_request")
    assert_error(api.get(path, params={"to": naive}), 422, "invalid_request")


def test_approval_mode_pends_then_confirms_waitlists_and_declines(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    created = schedule(api, olga, "menders", capacity=1, join_mode="approval")
    gid = created["id"]
    assert created["join_mode"] == "approval"
    bea, cai = sign_up(api, "bea"), sign_up(api, "cai")

    bea_reg = register(api, gid, bea)
    assert bea_reg["status"] == "pending"
    assert my_registrations(api, bea) == {gid: "pending"}
    assert counts(api, gid, bea) == (0, 0, 1)
    assert participants(api, gid, olga) == [("bea", "pending")]

    registrations = f"/api/v1/gatherings/{gid}/registrations"
    # Only an organiser approves.
    refused = api.post(f"{registrations}/{bea_reg['id']}/approve", headers=bea)
    assert_error(refused, 403, "forbidden")
    assert counts(api, gid, bea) == (0, 0, 1)

    approved = api.post(f"{registrations}/{bea_reg['id']}/approve", headers=olga)
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"id": bea_reg["id"], "status": "confirmed", "cancel_token": None}
    assert counts(api, gid, olga) == (1, 0, 0)
    assert gathering(api, gid, olga)["remaining_capacity"] == 0
    assert my_registrations(api, bea) == {gid: "confirmed"}

    cai_reg = register(api, gid, cai)
    assert cai_reg["status"] == "pending"
    approved = api.post(f"{registrations}/{cai_reg['id']}/approve", headers=olga)
    assert approved.json()["status"] == "waitlisted"  # full
    assert counts(api, gid, olga) == (1, 1, 0)
    assert participants(api, gid, olga) == [("bea", "confirmed"), ("cai", "waitlisted")]

    declined = api.post(f"{registrations}/{cai_reg['id']}/decline", headers=olga)
    assert declined.status_code == 204, declined.text
    assert counts(api, gid, olga) == (1, 0, 0)
    assert participants(api, gid, olga) == [("bea", "confirmed"), ("cai", "declined")]
    assert my_registrations(api, cai) == {gid: "declined"}
    again = api.post(f"{registrations}/{cai_reg['id']}/approve", headers=olga)
    assert_error(again, 409, "conflict")
    assert_error(
        api.post(f"{registrations}/{cai_reg['id']}/decline", headers=olga),
        409,
        "registration_closed",
    )
    assert counts(api, gid, olga) == (1, 0, 0)


def test_a_cancelled_seat_goes_to_the_first_waitlisted_person(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders", capacity=1)["id"]
    bea, cai, dan = (sign_up(api, name) for name in ("bea", "cai", "dan"))
    bea_reg = register(api, gid, bea)
    assert bea_reg["status"] == "confirmed"
    assert bea_reg["cancel_token"] is None
    assert register(api, gid, cai)["status"] == "waitlisted"
    assert register(api, gid, dan)["status"] == "waitlisted"
    assert counts(api, gid, dan) == (1, 2, 0)

    # Someone else's token cancels nothing.
    refused = api.delete(f"/api/v1/registrations/{bea_reg['id']}", headers=dan)
    assert_error(refused, 403, "forbidden")
    assert my_registrations(api, bea) == {gid: "confirmed"}

    cancelled = api.delete(f"/api/v1/registrations/{bea_reg['id']}", headers=bea)
    assert cancelled.status_code == 204, cancelled.text
    assert my_registrations(api, bea) == {gid: "cancelled"}
    assert counts(api, gid, bea) == (1, 1, 0)
    assert my_registrations(api, cai) == {gid: "confirmed"}
    assert my_registrations(api, dan) == {gid: "waitlisted"}
    assert participants(api, gid, olga) == [
        ("bea", "cancelled"),
        ("cai", "confirmed"),
        ("dan", "waitlisted"),
    ]
    # Cancelling again changes nothing; registering again joins the end of the line.
    again = api.delete(f"/api/v1/registrations/{bea_reg['id']}", headers=bea)
    assert again.status_code == 204, again.text
    assert counts(api, gid, bea) == (1, 1, 0)
    assert register(api, gid, bea)["status"] == "waitlisted"
    assert counts(api, gid, bea) == (1, 2, 0)


def test_raising_the_capacity_promotes_the_waitlist_in_order(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    created = schedule(api, olga, "menders", capacity=1)
    gid = created["id"]
    people = {name: sign_up(api, name) for name in ("bea", "cai", "dan")}
    for headers in people.values():
        register(api, gid, headers)
    assert counts(api, gid, olga) == (1, 2, 0)

    changed = put(api, gid, olga, as_change(created, capacity=2, title="Repair café XL"))
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["capacity"], body["title"]) == (2, "Repair café XL")
    assert (body["registration_count"], body["waitlist_count"], body["remaining_capacity"]) == (
        2,
        1,
        0,
    )
    assert participants(api, gid, olga) == [
        ("bea", "confirmed"),
        ("cai", "confirmed"),
        ("dan", "waitlisted"),
    ]
    assert my_registrations(api, people["cai"]) == {gid: "confirmed"}

    unlimited = put(api, gid, olga, as_change(created, capacity=None))
    assert unlimited.status_code == 200, unlimited.text
    seen = gathering(api, gid, olga)
    assert (seen["capacity"], seen["remaining_capacity"], seen["title"]) == (
        None,
        None,
        "Repair café",
    )
    assert counts(api, gid, olga) == (3, 0, 0)
    assert my_registrations(api, people["dan"]) == {gid: "confirmed"}

    # Only an organiser changes a gathering.
    refused = put(api, gid, people["bea"], as_change(created, capacity=10, title="Mine"))
    assert_error(refused, 403, "forbidden")
    assert gathering(api, gid, people["bea"])["title"] == "Repair café"


def test_capacity_below_the_confirmed_count_is_409_and_changes_nothing(
    api: httpx.Client,
) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    created = schedule(api, olga, "menders", capacity=3)
    gid = created["id"]
    for name in ("bea", "cai"):
        register(api, gid, sign_up(api, name))

    refused = put(api, gid, olga, as_change(created, capacity=1, title="Renamed"))
    assert_error(refused, 409, "capacity_below_confirmed")
    # The whole change is refused: neither the capacity nor the details moved.
    seen = gathering(api, gid, olga)
    assert (seen["capacity"], seen["title"], seen["registration_count"]) == (3, "Repair café", 2)

    assert put(api, gid, olga, as_change(created, capacity=2)).status_code == 200
    assert gathering(api, gid, olga)["remaining_capacity"] == 0
    # A bad value in the details is refused before anything is stored, too.
    bad = as_change(created, capacity=5, timezone="Nowhere/Town")
    assert_error(put(api, gid, olga, bad), 422, "invalid_value")
    assert gathering(api, gid, olga)["capacity"] == 2


def test_a_cancelled_gathering_says_so_everywhere(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    kept = schedule(api, olga, "menders", title="Kept", in_days=2)
    dropped = schedule(api, olga, "menders", title="Dropped", in_days=4)
    bea = sign_up(api, "bea")
    bea_reg = register(api, dropped["id"], bea)
    assert bea_reg["status"] == "confirmed"

    answer = api.post(f"/api/v1/gatherings/{dropped['id']}/cancel", headers=olga)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    assert gathering(api, dropped["id"], olga)["status"] == "cancelled"
    assert gathering(api, kept["id"], olga)["status"] == "scheduled"
    listed = api.get("/api/v1/communities/menders/gatherings", headers=olga).json()
    assert [(g["title"], g["status"]) for g in listed] == [
        ("Kept", "scheduled"),
        ("Dropped", "cancelled"),
    ]
    # Cancelling twice is harmless; changing a cancelled gathering is refused.
    assert api.post(f"/api/v1/gatherings/{dropped['id']}/cancel", headers=olga).status_code == 200
    assert_error(put(api, dropped["id"], olga, as_change(dropped)), 409, "gathering_cancelled")

    calendar = api.get("/communities/menders/calendar.ics", headers=olga)
    assert calendar.status_code == 200, calendar.text
    events = Calendar.from_ical(calendar.content).walk("VEVENT")
    assert {str(e["summary"]): str(e["status"]) for e in events} == {
        "Kept": "CONFIRMED",
        "Dropped": "CANCELLED",
    }
    assert b"STATUS:CANCELLED" in calendar.content


def test_a_private_communitys_gathering_is_for_members(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "secret", visibility="private", membership="invite")
    gid = schedule(api, olga, "secret", capacity=5)["id"]
    bea, cai = sign_up(api, "bea"), sign_up(api, "cai")

    for headers in (cai, None):
        assert_error(api.get(f"/api/v1/gatherings/{gid}", headers=headers), 404, "not_found")
        answer = api.post(f"/api/v1/gatherings/{gid}/registrations", headers=headers, json={})
        assert_error(answer, 404, "not_found")
    assert my_registrations(api, cai) == {}
    assert counts(api, gid, olga) == (0, 0, 0)
    assert participants(api, gid, olga) == []

    invited = api.post(
        "/api/v1/communities/secret/invitations", json={"username": "bea"}, headers=olga
    )
    assert invited.status_code == 204, invited.text
    assert join(api, "secret", bea) == "member"
    assert gathering(api, gid, bea)["title"] == "Repair café"
    assert register(api, gid, bea)["status"] == "confirmed"
    assert my_registrations(api, bea) == {gid: "confirmed"}
    assert counts(api, gid, bea) == (1, 0, 0)
    assert gathering_titles(api, "secret", bea) == ["Repair café"]
    assert_error(api.get("/api/v1/communities/secret/gatherings", headers=cai), 404, "not_found")


def test_only_organisers_schedule(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    bea = sign_up(api, "bea")
    path = "/api/v1/communities/menders/gatherings"
    assert_error(api.post(path, json=gathering_body(), headers=bea), 403, "forbidden")
    assert join(api, "menders", bea) == "member"
    assert_error(api.post(path, json=gathering_body(), headers=bea), 403, "forbidden")
    assert gathering_titles(api, "menders", bea) == []
    bea_id = me(api, bea)["id"]
    promoted = api.patch(
        f"/api/v1/communities/menders/members/{bea_id}", json={"role": "moderator"}, headers=olga
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "moderator"
    created = schedule(
        api, bea, "menders", title="Bea's evening", online_url="https://meet.example/x"
    )
    assert created["online_url"] == "https://meet.example/x"
    assert created["url"].endswith(f"/gatherings/{created['id']}")
    assert gathering_titles(api, "menders", bea) == ["Bea's evening"]


def test_the_organiser_view_names_people_and_only_counts_anonymous_ones(
    api: httpx.Client,
) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    gid = schedule(api, olga, "menders", capacity=10)["id"]
    bea = sign_up(api, "bea")
    bea_reg = register(api, gid, bea)
    register(api, gid, None, email="anon@example.org")
    answer = api.get(f"/api/v1/gatherings/{gid}/registrations", headers=olga)
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert view["anonymous_count"] == 1
    assert view["participants"] == [
        {
            "id": bea_reg["id"],
            "username": "bea",
            "display_name": "bea",
            "actor_url": me(api, bea)["actor_url"],
            "status": "confirmed",
        }
    ]
    assert "anon@example.org" not in answer.text
