"""Communities through the API: joining in each membership mode, privacy, roles, leaving."""

from __future__ import annotations

import httpx
from api_helpers import (
    Headers,
    assert_error,
    community,
    directory_slugs,
    found,
    join,
    me,
    roles,
    sign_up,
)


def person_id(api: httpx.Client, headers: Headers) -> str:
    pid: str = me(api, headers)["id"]
    return pid


def join_requests(api: httpx.Client, slug: str, headers: Headers) -> list[str]:
    answer = api.get(f"/api/v1/communities/{slug}/join-requests", headers=headers)
    assert answer.status_code == 200, answer.text
    assert all(r["role"] == "pending" for r in answer.json())
    return [r["username"] for r in answer.json()]


def change_role(
    api: httpx.Client, slug: str, pid: str, role: str, headers: Headers
) -> httpx.Response:
    return api.patch(
        f"/api/v1/communities/{slug}/members/{pid}", json={"role": role}, headers=headers
    )


def test_a_slug_is_stored_and_answered_in_its_normal_form(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    answer = api.post(
        "/api/v1/communities", json={"slug": " Repair-Cafe ", "name": "Repair café"}, headers=olga
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert (created["slug"], created["name"], created["member_count"]) == (
        "repair-cafe",
        "Repair café",
        1,
    )
    assert created["url"].endswith("/communities/repair-cafe")
    assert community(api, "Repair-Cafe", olga)["id"] == created["id"]
    assert directory_slugs(api, olga) == ["repair-cafe"]


def test_a_slug_the_pages_use_as_a_path_is_reserved(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    answer = api.post("/api/v1/communities", json={"slug": "New", "name": "New"}, headers=olga)
    assert_error(answer, 409, "name_taken")
    assert directory_slugs(api, olga) == []


def test_an_open_community_takes_members_at_once(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    created = found(api, olga, "menders")
    assert (created["visibility"], created["membership"]) == ("public", "open")
    assert roles(api, "menders", olga) == {"olga": "owner"}

    bea = sign_up(api, "bea")
    assert join(api, "menders", bea) == "member"
    assert community(api, "menders", bea)["member_count"] == 2
    assert roles(api, "menders", bea) == {"olga": "owner", "bea": "member"}
    # Joining again changes nothing.
    assert join(api, "menders", bea) == "member"
    assert community(api, "menders", bea)["member_count"] == 2
    assert_error(api.post("/api/v1/communities/menders/members"), 401, "unauthenticated")
    assert_error(api.post("/api/v1/communities/nowhere/members", headers=bea), 404, "not_found")


def test_approval_mode_pends_until_a_moderator_approves(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders", membership="approval")
    bea = sign_up(api, "bea")
    bea_id = person_id(api, bea)

    assert join(api, "menders", bea) == "pending"
    assert community(api, "menders", bea)["member_count"] == 1
    assert "bea" not in roles(api, "menders", bea)
    assert join(api, "menders", bea) == "pending"  # asking twice is one request
    assert join_requests(api, "menders", olga) == ["bea"]
    # Only moderators and above see or decide requests.
    path = "/api/v1/communities/menders/join-requests"
    assert_error(api.get(path, headers=bea), 403, "forbidden")
    assert_error(api.post(f"{path}/{bea_id}/approve", headers=bea), 403, "forbidden")
    assert community(api, "menders", olga)["member_count"] == 1

    approved = api.post(f"{path}/{bea_id}/approve", headers=olga)
    assert approved.status_code == 204, approved.text
    assert community(api, "menders", olga)["member_count"] == 2
    assert join_requests(api, "menders", olga) == []
    assert roles(api, "menders", olga) == {"olga": "owner", "bea": "member"}
    assert join(api, "menders", bea) == "member"
    # Approving again: there is nothing pending any more.
    assert_error(api.post(f"{path}/{bea_id}/approve", headers=olga), 409, "conflict")
    assert community(api, "menders", olga)["member_count"] == 2


def test_a_rejected_request_leaves_the_community_as_it_was(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders", membership="approval")
    bea = sign_up(api, "bea")
    cai = sign_up(api, "cai")
    bea_id = person_id(api, bea)
    assert join(api, "menders", bea) == "pending"
    assert join(api, "menders", cai) == "pending"
    assert join_requests(api, "menders", olga) == ["bea", "cai"]

    path = "/api/v1/communities/menders/join-requests"
    rejected = api.post(f"{path}/{bea_id}/reject", headers=olga)
    assert rejected.status_code == 204, rejected.text
    assert join_requests(api, "menders", olga) == ["cai"]
    assert community(api, "menders", olga)["member_count"] == 1
    assert "bea" not in roles(api, "menders", olga)
    assert_error(api.post(f"{path}/{bea_id}/approve", headers=olga), 409, "conflict")
    assert community(api, "menders", olga)["member_count"] == 1
    # The person may ask again.
    assert join(api, "menders", bea) == "pending"
    assert join_requests(api, "menders", olga) == ["cai", "bea"]


def test_an_invite_only_community_takes_only_invited_people(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders", membership="invite")
    bea = sign_up(api, "bea")
    cai = sign_up(api, "cai")

    answer = api.post("/api/v1/communities/menders/members", headers=bea)
    assert_error(answer, 403, "forbidden")
    assert community(api, "menders", bea)["member_count"] == 1
    assert join_requests(api, "menders", olga) == []

    # A non-member cannot invite, and nobody invites a name that does not exist.
    invitations = "/api/v1/communities/menders/invitations"
    assert_error(api.post(invitations, json={"username": "cai"}, headers=bea), 403, "forbidden")
    assert_error(api.post(invitations, json={"username": "nobody"}, headers=olga), 404, "not_found")

    invited = api.post(invitations, json={"username": "BEA"}, headers=olga)
    assert invited.status_code == 204, invited.text
    assert join(api, "menders", bea) == "member"
    assert community(api, "menders", bea)["member_count"] == 2
    assert roles(api, "menders", bea) == {"olga": "owner", "bea": "member"}
    # The invitation was for bea only; a plain member cannot invite either.
    assert_error(api.post("/api/v1/communities/menders/members", headers=cai), 403, "forbidden")
    assert_error(api.post(invitations, json={"username": "cai"}, headers=bea), 403, "forbidden")
    assert community(api, "menders", cai)["member_count"] == 2


def test_a_private_community_is_invisible_to_outsiders(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "public-club")
    secret = found(api, olga, "secret-club", visibility="private", membership="invite")
    assert secret["visibility"] == "private"
    bea = sign_up(api, "bea")

    assert directory_slugs(api, olga) == ["public-club", "secret-club"]
    assert directory_slugs(api, bea) == ["public-club"]
    assert directory_slugs(api) == ["public-club"]
    for headers in (bea, None):
        for path in ("", "/members", "/gatherings", "/posts"):
            answer = api.get(f"/api/v1/communities/secret-club{path}", headers=headers)
            assert_error(answer, 404, "not_found")
        assert_error(
            api.get("/communities/secret-club/calendar.ics", headers=headers), 404, "not_found"
        )
    # The answer for a private community is the same as for one that does not exist.
    hidden = api.get("/api/v1/communities/secret-club", headers=bea).json()
    assert hidden == api.get("/api/v1/communities/no-such-club", headers=bea).json()

    invited = api.post(
        "/api/v1/communities/secret-club/invitations", json={"username": "bea"}, headers=olga
    )
    assert invited.status_code == 204, invited.text
    assert join(api, "secret-club", bea) == "member"
    seen = community(api, "secret-club", bea)
    assert (seen["id"], seen["member_count"]) == (secret["id"], 2)
    assert directory_slugs(api, bea) == ["public-club", "secret-club"]
    assert roles(api, "secret-club", bea) == {"olga": "owner", "bea": "member"}
    assert directory_slugs(api) == ["public-club"]


def test_admins_change_roles_and_plain_members_cannot(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    bea, cai, dan = (sign_up(api, name) for name in ("bea", "cai", "dan"))
    for headers in (bea, cai, dan):
        assert join(api, "menders", headers) == "member"
    bea_id, cai_id, dan_id = (person_id(api, h) for h in (bea, cai, dan))

    made = change_role(api, "menders", bea_id, "admin", olga)
    assert made.status_code == 200, made.text
    assert (made.json()["username"], made.json()["role"]) == ("bea", "admin")
    assert roles(api, "menders", olga)["bea"] == "admin"

    # An admin changes roles below owner.
    made = change_role(api, "menders", cai_id, "moderator", bea)
    assert made.status_code == 200, made.text
    assert roles(api, "menders", bea)["cai"] == "moderator"

    # A plain member and a moderator may not; only an owner makes owners.
    assert_error(change_role(api, "menders", cai_id, "member", dan), 403, "forbidden")
    assert_error(change_role(api, "menders", dan_id, "admin", dan), 403, "forbidden")
    assert_error(change_role(api, "menders", dan_id, "moderator", cai), 403, "forbidden")
    assert_error(change_role(api, "menders", dan_id, "owner", bea), 403, "forbidden")
    assert_error(change_role(api, "menders", dan_id, "overlord", olga), 422, "invalid_request")
    assert roles(api, "menders", dan) == {
        "olga": "owner",
        "bea": "admin",
        "cai": "moderator",
        "dan": "member",
    }


def test_the_last_owner_cannot_leave(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    bea = sign_up(api, "bea")
    assert join(api, "menders", bea) == "member"
    olga_id, bea_id = person_id(api, olga), person_id(api, bea)

    assert_error(
        api.delete("/api/v1/communities/menders/members/me", headers=olga), 409, "last_owner"
    )
    assert_error(change_role(api, "menders", olga_id, "admin", olga), 409, "last_owner")
    assert roles(api, "menders", olga) == {"olga": "owner", "bea": "member"}

    assert change_role(api, "menders", bea_id, "owner", olga).status_code == 200
    assert roles(api, "menders", olga)["bea"] == "owner"
    left = api.delete("/api/v1/communities/menders/members/me", headers=olga)
    assert left.status_code == 204, left.text
    assert community(api, "menders", olga)["member_count"] == 1
    assert roles(api, "menders", olga) == {"bea": "owner"}
    again = api.delete("/api/v1/communities/menders/members/me", headers=olga)
    assert_error(again, 409, "not_member")
    assert_error(
        api.delete("/api/v1/communities/menders/members/me", headers=bea), 409, "last_owner"
    )


def test_a_member_leaves_and_moderators_remove_members(api: httpx.Client) -> None:
    olga = sign_up(api, "olga")
    found(api, olga, "menders", visibility="private")
    bea, cai, dan = (sign_up(api, name) for name in ("bea", "cai", "dan"))
    bea_id, cai_id, dan_id = (person_id(api, h) for h in (bea, cai, dan))
    for name in ("bea", "cai", "dan"):
        invited = api.post(
            "/api/v1/communities/menders/invitations", json={"username": name}, headers=olga
        )
        assert invited.status_code == 204, invited.text
    for headers in (bea, cai, dan):
        assert join(api, "menders", headers) == "member"
    assert change_role(api, "menders", cai_id, "moderator", olga).json()["role"] == "moderator"
    assert roles(api, "menders", olga)["cai"] == "moderator"
    assert community(api, "menders", olga)["member_count"] == 4

    # A plain member removes nobody; a moderator does not remove an equal or higher role.
    members = "/api/v1/communities/menders/members"
    assert_error(api.delete(f"{members}/{dan_id}", headers=bea), 403, "forbidden")
    assert_error(api.delete(f"{members}/{person_id(api, olga)}", headers=cai), 403, "forbidden")
    assert community(api, "menders", cai)["member_count"] == 4

    removed = api.delete(f"{members}/{dan_id}", headers=cai)
    assert removed.status_code == 204, removed.text
    assert community(api, "menders", cai)["member_count"] == 3
    assert "dan" not in roles(api, "menders", cai)
    assert_error(api.delete(f"{members}/{dan_id}", headers=cai), 409, "not_member")
    # Removed from a private community, it vanishes for them.
    assert_error(api.get("/api/v1/communities/menders", headers=dan), 404, "not_found")
    assert "menders" not in directory_slugs(api, dan)

    left = api.delete(f"{members}/me", headers=bea)
    assert left.status_code == 204, left.text
    assert_error(api.get("/api/v1/communities/menders", headers=bea), 404, "not_found")
    assert roles(api, "menders", olga) == {"olga": "owner", "cai": "moderator"}
    assert community(api, "menders", olga)["member_count"] == 2
    assert bea_id not in str(api.get(f"{members}", headers=olga).json())
