"""The community admin pages in a real browser: join requests and roles, gatherings (made,
changed, cancelled; a bad form kept as typed), registrations (named, and anonymous ones only
counted), agents (the token shown once, used on the API, suspended), the audit trail with what
an agent did and was refused, followers, and the node's blocks. Every page loads from the
node's own origin only, and leaves a screenshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import pytest
from api_helpers import Headers, found, gathering_body, join, register, schedule, sign_up
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from federation_support import ServedNode, served_node
from playwright.sync_api import Page, expect

from kunveno.application.federation import Followable, RemoteFollower

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "s3cret-pass"


@pytest.fixture
def site(database_url: str) -> Iterator[ServedNode]:
    """A node whose administrator is olga; built-ins are not run (enabling them is tested)."""
    with served_node(database_url, admins="olga", builtin_agents=False) as served:
        yield served


@pytest.fixture
def own_origin(site: ServedNode, page: Page) -> Iterator[None]:
    """Every request the pages make goes to the node itself."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    yield
    assert {urlsplit(url).netloc for url in seen} == {urlsplit(site.url).netloc}


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)


def sign_in_browser(page: Page, site: ServedNode, username: str) -> None:
    """The browser signed in as ``username``: an API session token in the session cookie."""
    answer = site.api.post("/api/v1/sessions", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    cookie = {"name": "kunveno_session", "value": answer.json()["token"], "url": site.url}
    page.context.add_cookies([cookie])  # type: ignore[list-item]


def visit(page: Page, url: str) -> int:
    answer = page.goto(url)
    assert answer is not None
    return answer.status


def submit(page: Page, button: str) -> int:
    """Click a form's button; the status of the page that answered (after any redirect)."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    answer = navigation.value
    assert answer is not None
    return answer.status


def local(moment: datetime) -> str:
    """As a ``datetime-local`` field takes it."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def menders(site: ServedNode, membership: str = "open") -> Headers:
    olga = sign_up(site.api, "olga")
    found(site.api, olga, "menders", membership=membership)
    return olga


# -- who may come in -------------------------------------------------------------------------


def test_only_organisers_get_in_members_see_403_and_outsiders_of_a_private_community_404(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    olga = menders(site)
    join(site.api, "menders", sign_up(site.api, "bob"))
    found(site.api, olga, "family", visibility="private", membership="invite")

    assert visit(page, f"{site.url}/communities/menders/admin") == 200
    assert "/signin" in page.url  # not signed in: asked to sign in first

    sign_in_browser(page, site, "bob")
    assert visit(page, f"{site.url}/communities/menders/admin") == 403
    expect(page.locator("h1")).to_have_text("You may not do this")
    assert "Traceback" not in page.content()
    shot(page, "403")
    assert visit(page, f"{site.url}/communities/menders/admin/gatherings/new") == 403
    assert visit(page, f"{site.url}/communities/family/admin") == 404
    assert visit(page, f"{site.url}/admin/blocks") == 403

    sign_in_browser(page, site, "olga")
    assert visit(page, f"{site.url}/communities/menders/admin") == 200
    expect(page.get_by_role("navigation", name="Administration")).to_contain_text("Audit trail")
    shot(page, "overview")


# -- members ---------------------------------------------------------------------------------


def test_an_admin_approves_a_request_to_join_changes_a_role_and_answers_a_follower(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    menders(site, membership="approval")
    assert join(site.api, "menders", sign_up(site.api, "bob")) == "pending"
    sign_up(site.api, "carol")
    community = site.container.queries.community("menders")
    assert community is not None
    site.container.federation.follow(
        RemoteFollower("https://social.example/users/ann", "https://social.example/inbox", None),
        Followable("community", UUID(community["id"]), site.container.urls.community("menders")),
        "https://social.example/activities/1",
    )
    sign_in_browser(page, site, "olga")

    visit(page, f"{site.url}/communities/menders/admin/members")
    shot(page, "members-request")
    assert submit(page, "Approve bob") == 200
    expect(page.get_by_role("status")).to_contain_text("approved")
    bob = page.locator("tr", has_text="@bob")
    expect(bob).to_contain_text("member")

    page.get_by_label("Role of bob").select_option("moderator")
    with page.expect_navigation():
        bob.get_by_role("button", name="Change").click()
    expect(page.get_by_role("status")).to_contain_text("role was changed")
    expect(page.locator("tr", has_text="@bob")).to_contain_text("moderator")

    page.get_by_label("Their username on this server").fill("nobody_here")
    assert submit(page, "Invite") == 422
    expect(page.locator("#e-username")).to_contain_text("no such person")
    expect(page.get_by_label("Their username on this server")).to_have_value("nobody_here")
    page.get_by_label("Their username on this server").fill("carol")
    assert submit(page, "Invite") == 200
    shot(page, "members")

    visit(page, f"{site.url}/communities/menders/admin/followers")
    expect(page.locator("main")).to_contain_text("https://social.example/users/ann")
    shot(page, "followers-pending")
    assert submit(page, "Accept") == 200
    following = page.get_by_role("region", name="Following")
    expect(following).to_contain_text("https://social.example/users/ann")

    # A moderator organises but does not administer: no roles, no agents.
    sign_in_browser(page, site, "bob")
    assert visit(page, f"{site.url}/communities/menders/admin/members") == 200
    expect(page.get_by_label("Role of olga")).to_have_count(0)
    assert visit(page, f"{site.url}/communities/menders/admin/agents") == 403


# -- gatherings --------------------------------------------------------------------------------


def test_a_gathering_is_scheduled_kept_as_typed_when_wrong_edited_and_cancelled(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    menders(site)
    sign_in_browser(page, site, "olga")
    start = (datetime.now(UTC) + timedelta(days=30)).replace(hour=18, minute=0)

    visit(page, f"{site.url}/communities/menders/admin/gatherings")
    page.get_by_role("link", name="Schedule a gathering").first.click()
    page.get_by_label("Title").fill("Summer fair")
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    page.get_by_label("Starts").fill(local(start))
    page.get_by_label("Ends").fill(local(start - timedelta(hours=1)))  # before it starts
    page.get_by_label("Place").fill("The square")
    page.get_by_label("Seats").fill("20")
    assert submit(page, "Schedule") == 422
    expect(page.locator("#e-ends_at")).to_contain_text("ends after it starts")
    expect(page.get_by_label("Title")).to_have_value("Summer fair")
    expect(page.get_by_label("Place")).to_have_value("The square")
    shot(page, "gathering-form-error")

    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_label("Ends").fill(local(start + timedelta(hours=3)))
    assert submit(page, "Schedule") == 422
    expect(page.locator("#e-timezone")).to_contain_text("unknown time zone")
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    assert submit(page, "Schedule") == 200
    expect(page.get_by_role("status")).to_contain_text("scheduled")
    upcoming = page.get_by_role("region", name="Upcoming")
    expect(upcoming).to_contain_text("Summer fair")
    expect(upcoming).to_contain_text("18:00")  # in the gathering's own zone

    upcoming.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Starts")).to_have_value(local(start))
    page.get_by_label("Title").fill("Summer fair on the square")
    assert submit(page, "Save the changes") == 200
    expect(page.get_by_role("status")).to_contain_text("changed")
    shot(page, "gatherings")
    [listed] = site.api.get("/api/v1/communities/menders/gatherings").json()
    assert (listed["title"], listed["capacity"]) == ("Summer fair on the square", 20)

    page.once("dialog", lambda dialog: dialog.accept())
    assert submit(page, "Cancel Summer fair on the square") == 200
    expect(page.get_by_role("status")).to_contain_text("cancelled")
    expect(page.locator("tr", has_text="Summer fair on the square")).to_contain_text("Cancelled")
    assert site.api.get(f"/api/v1/gatherings/{listed['id']}").json()["status"] == "cancelled"


def test_registrations_name_participants_and_only_count_anonymous_ones(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    olga = menders(site)
    bob = sign_up(site.api, "bob")
    join(site.api, "menders", bob)
    fair = schedule(site.api, olga, "menders", title="Summer fair", join_mode="approval")
    register(site.api, fair["id"], bob)
    register(site.api, fair["id"], email="hidden.person@example.org")
    sign_in_browser(page, site, "olga")

    visit(page, f"{site.url}/communities/menders/admin/gatherings/{fair['id']}/registrations")
    named = page.get_by_role("region", name="Named participants")
    expect(named).to_contain_text("@bob")
    expect(named).to_contain_text("waiting for approval")
    expect(page.locator("#anonymous-count")).to_contain_text("1 anonymous registration")
    assert "hidden.person" not in page.content()
    shot(page, "registrations")

    assert submit(page, "Approve") == 200
    expect(page.get_by_role("region", name="Named participants")).to_contain_text("confirmed")
    page.get_by_role("textbox", name="Notice").fill("Bring your own cup, please.")
    assert submit(page, "Send the notice") == 200
    expect(page.get_by_role("status")).to_contain_text("notice was sent")
    notices = site.api.get("/api/v1/me/notices", headers=bob).json()
    assert [n["text"] for n in notices] == ["Bring your own cup, please."]


# -- agents and the audit trail ------------------------------------------------------------------


def make_agent(page: Page, site: ServedNode, name: str, scopes: list[str]) -> str:
    visit(page, f"{site.url}/communities/menders/admin/agents")
    page.get_by_role("textbox", name="Name").fill(name)
    for scope in scopes:
        page.get_by_label(scope, exact=True).check()
    assert submit(page, "Make the agent") == 200
    token = page.locator("#agent-token").input_value()
    assert token.startswith("kva_")
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    return token


def test_an_agent_made_on_the_page_acts_with_its_token_until_suspended_and_is_audited(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    menders(site)
    sign_in_browser(page, site, "olga")

    visit(page, f"{site.url}/communities/menders/admin/agents")
    page.get_by_role("textbox", name="Name").fill("Helper")
    assert submit(page, "Make the agent") == 422  # no scope: kept as typed, explained
    expect(page.locator("#e-scopes")).to_contain_text("at least one")
    expect(page.get_by_role("textbox", name="Name")).to_have_value("Helper")
    token = make_agent(page, site, "Helper", ["gatherings:read", "gatherings:write"])
    shot(page, "agent-token")
    page.reload()
    expect(page.locator("main")).to_contain_text("not shown again")
    assert token not in page.content()
    assert page.locator("#agent-token").count() == 0

    agent = {"Authorization": f"Bearer {token}"}
    made = site.api.post(
        "/api/v1/communities/menders/gatherings",
        json=gathering_body(title="Picnic"),
        headers=agent,
    )
    assert made.status_code == 201, made.text
    refused = site.api.get("/api/v1/communities/menders/members", headers=agent)
    assert refused.status_code == 403  # no members:read

    visit(page, f"{site.url}/communities/menders/admin/gatherings")
    expect(page.locator("tr", has_text="Picnic")).to_contain_text("by agent Helper")

    visit(page, f"{site.url}/communities/menders/admin/agents")
    row = page.locator("tr", has_text="agent Helper")
    expect(row).to_contain_text("gatherings:write")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("@olga")
    shot(page, "agents")
    row.get_by_role("link", name="Manage").click()
    page.get_by_label("posts:read", exact=True).check()
    assert submit(page, "Save the permissions") == 200
    expect(page.get_by_role("status")).to_contain_text("permissions were changed")
    assert submit(page, "Suspend") == 200
    expect(page.get_by_role("status")).to_contain_text("suspended")
    shot(page, "agent")
    later = site.api.get("/api/v1/communities/menders/gatherings", headers=agent)
    assert later.status_code == 403

    page.get_by_role("link", name="Its audit trail").click()
    trail = page.locator("table.audit tbody tr")
    expect(trail.filter(has_text="scheduled a gathering")).to_contain_text("agent Helper")
    expect(trail.filter(has_text="scheduled a gathering")).to_contain_text("gatherings:write")
    expect(trail.filter(has_text="Refused")).to_have_count(2)
    expect(trail.filter(has_text="Refused").first).to_contain_text("members:read")
    assert all("agent Helper" in text for text in trail.all_inner_texts())
    shot(page, "audit-agent")

    page.get_by_label("Who", exact=True).select_option(label="olga")
    assert submit(page, "Show") == 200
    expect(trail.filter(has_text="made an agent")).to_have_count(1)
    expect(trail.filter(has_text="suspended an agent")).to_have_count(1)
    page.get_by_label("Or someone else").fill("not an actor:")
    assert submit(page, "Show") == 422
    expect(page.locator("#e-who")).to_be_visible()
    shot(page, "audit")

    visit(page, f"{site.url}/communities/menders/admin/agents")
    assert submit(page, "Enable the Reminder agent") == 200
    expect(page.locator("tr", has_text="agent Reminder")).to_contain_text("built in")
    expect(page.get_by_role("region", name="Built-in agents")).to_contain_text("Enabled")

    page.locator("tr", has_text="agent Helper").get_by_role("link", name="Manage").click()
    page.once("dialog", lambda dialog: dialog.accept())
    assert submit(page, "Remove") == 200
    expect(page.get_by_role("status")).to_contain_text("removed")
    expect(page.locator("tr", has_text="agent Helper")).to_have_count(0)


def test_the_audit_trail_pages_through_older_and_newer_entries(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    olga = menders(site)
    for n in range(60):
        join(site.api, "menders", sign_up(site.api, f"member{n}"))
    assert olga
    sign_in_browser(page, site, "olga")

    visit(page, f"{site.url}/communities/menders/admin/audit")
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("founded the community")
    page.get_by_role("link", name="Newer").click()
    expect(rows).to_have_count(11)
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)
    page.get_by_role("link", name="Older").click()
    expect(rows.first).to_contain_text("founded the community")


# -- the node's blocks -------------------------------------------------------------------------


def test_a_node_administrator_blocks_and_unblocks_a_domain(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    menders(site)
    sign_in_browser(page, site, "olga")

    assert visit(page, f"{site.url}/admin/blocks") == 200
    page.get_by_label("Domain or account address").fill("not a domain!")
    assert submit(page, "Block") == 422
    expect(page.locator("#e-value")).to_contain_text("not a domain")
    expect(page.get_by_label("Domain or account address")).to_have_value("not a domain!")

    page.get_by_label("Domain or account address").fill("Spam.Example")
    page.get_by_label("Why").fill("floods us with spam")
    assert submit(page, "Block") == 200
    row = page.locator("tr", has_text="spam.example")
    expect(row).to_contain_text("floods us with spam")
    shot(page, "blocks")
    blocks: list[dict[str, Any]] = site.api.get(
        "/api/v1/admin/blocks", headers=admin_headers(site)
    ).json()
    assert [(b["kind"], b["value"]) for b in blocks] == [("domain", "spam.example")]

    page.once("dialog", lambda dialog: dialog.accept())
    assert submit(page, "Unblock spam.example") == 200
    expect(page.locator("main")).to_contain_text("Nothing is blocked.")


def admin_headers(site: ServedNode) -> Headers:
    answer = site.api.post("/api/v1/sessions", json={"username": "olga", "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['token']}"}


# -- accessibility -------------------------------------------------------------------------------


def test_the_admin_pages_pass_an_accessibility_check(
    site: ServedNode, page: Page, own_origin: None
) -> None:
    """axe-core (injected by the test, never fetched by the page) finds nothing to fix."""
    olga = menders(site, membership="approval")
    join(site.api, "menders", sign_up(site.api, "bob"))
    fair = schedule(site.api, olga, "menders", title="Summer fair")
    register(site.api, fair["id"], email="someone@example.org")
    made = site.api.post(
        "/api/v1/communities/menders/agents",
        json={"name": "Helper", "scopes": ["gatherings:read"]},
        headers=olga,
    )
    assert made.status_code == 201, made.text
    base = "/communities/menders/admin"
    paths = [
        base,
        f"{base}/members",
        f"{base}/gatherings",
        f"{base}/gatherings/new",
        f"{base}/gatherings/{fair['id']}/edit",
        f"{base}/gatherings/{fair['id']}/registrations",
        f"{base}/agents",
        f"{base}/agents/{made.json()['agent']['id']}",
        f"{base}/agents/{made.json()['agent']['id']}/token",
        f"{base}/audit",
        f"{base}/audit?who=nobody_here",
        f"{base}/followers",
        "/admin/blocks",
    ]
    sign_in_browser(page, site, "olga")
    axe = Axe()
    found_violations = {}
    for path in paths:
        page.goto(site.url + path)
        response = axe.run(page).response
        assert response["passes"], path  # axe did run
        found_violations[path] = [(v["id"], v["impact"]) for v in response["violations"]]
    assert found_violations == {path: [] for path in paths}
