"""The account pages in a real browser: signing up, in and out, my page, my data and its
export, erasing my account, and the pages in another language (Esperanto)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from api_helpers import found, register, schedule
from api_helpers import sign_in as api_sign_in
from api_helpers import sign_up as api_sign_up
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, Page, expect

from conftest import LiveServer
from conftest import test_settings as settings_for
from kunveno.bootstrap import build

PASSWORD = "correct-horse-battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
Shoot = Callable[[str], None]


@dataclass(frozen=True)
class Site:
    url: str
    api: httpx.Client  # the client API of the same node, to set the scene


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    node = build(settings_for(database_url))
    try:
        with LiveServer(node) as server, httpx.Client(base_url=server.url) as api:
            yield Site(server.url, api)
    finally:
        node.close()


@pytest.fixture
def shoot(page: Page, request: pytest.FixtureRequest) -> Shoot:
    """Save a screenshot of the page as a test artifact, named for the page and database."""
    database = request.node.callspec.params.get("database_url", "db")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"account-{name}-{database}.png"), full_page=True)

    return save


def sign_up_in_browser(page: Page, site: Site, username: str, **more: str) -> None:
    page.goto(site.url + "/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    for label, value in more.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Sign up").click()


def sign_in_in_browser(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def session_cookie(page: Page) -> dict[str, object]:
    found = [c for c in page.context.cookies() if c["name"] == "kunveno_session"]
    assert len(found) == 1
    return dict(found[0])


# -- signing up, in and out ---------------------------------------------------------------


def test_signing_up_leads_to_my_page_and_signing_out_ends_the_session(
    site: Site, page: Page, shoot: Shoot
) -> None:
    page.goto(site.url + "/signup")
    assert page.locator("h1").count() == 1
    expect(page.get_by_label("Username")).to_have_attribute("autocomplete", "username")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "new-password")
    shoot("signup")
    sign_up_in_browser(page, site, "ann", **{"Display name": "Ann Smith"})
    expect(page).to_have_url(site.url + "/me")
    expect(page.locator("h1")).to_have_text("Hello, Ann Smith")
    cookie = session_cookie(page)
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    shoot("me-new")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(site.url + "/")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "kunveno_session"]
    # The token the cookie held is revoked, not only forgotten by the browser.
    page.context.add_cookies([cookie])  # type: ignore[list-item]
    page.goto(site.url + "/me")
    expect(page).to_have_url(re.compile(r"/signin\?then=/me$"))


def test_signing_up_again_with_a_taken_username_keeps_what_was_typed(
    site: Site, page: Page, shoot: Shoot
) -> None:
    api_sign_up(site.api, "ann", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        sign_up_in_browser(page, site, "Ann", **{"Email": "ann@example.org"})
    assert answer.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("This username is taken")
    expect(page.locator("#e-username")).to_have_text(
        "This username is taken: please choose another one."
    )
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Username")).to_have_value("Ann")
    expect(page.get_by_label("Email")).to_have_value("ann@example.org")
    expect(page.get_by_label("Password")).to_have_value("")
    shoot("signup-errors")


def test_signing_in_goes_back_to_the_page_asked_for(site: Site, page: Page, shoot: Shoot) -> None:
    api_sign_up(site.api, "ann", PASSWORD)
    page.goto(site.url + "/me/data")
    expect(page).to_have_url(site.url + "/signin?then=/me/data")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    shoot("signin")
    sign_in_in_browser(page, "ann")
    expect(page).to_have_url(site.url + "/me/data")
    expect(page.locator("h1")).to_have_text("My data")


def test_a_wrong_password_keeps_the_username_and_says_so(
    site: Site, page: Page, shoot: Shoot
) -> None:
    api_sign_up(site.api, "ann", PASSWORD)
    page.goto(site.url + "/signin")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        sign_in_in_browser(page, "ann", "not-the-password")
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password. Please try again.")
    expect(page.get_by_label("Username")).to_have_value("ann")
    expect(page.get_by_label("Password")).to_have_value("")
    assert not [c for c in page.context.cookies() if c["name"] == "kunveno_session"]
    shoot("signin-error")


@pytest.mark.parametrize(
    "then",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_signing_in_never_leads_to_another_site(site: Site, then: str) -> None:
    api_sign_up(site.api, "ann", PASSWORD)
    form = site.api.get("/signin", params={"then": then}, headers={"accept": "text/html"})
    assert "evil" not in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = site.api.post(
        "/signin",
        data={"csrf_token": token[1], "username": "ann", "password": PASSWORD, "then": then},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/me"


def test_the_browser_stays_on_the_node_whatever_then_says(site: Site, page: Page) -> None:
    api_sign_up(site.api, "ann", PASSWORD)
    page.goto(site.url + "/signin?then=https://evil.example/")
    sign_in_in_browser(page, "ann")
    expect(page).to_have_url(site.url + "/me")


def test_a_form_posted_without_its_token_is_refused_with_a_page(
    site: Site, page: Page, shoot: Shoot
) -> None:
    api_sign_up(site.api, "ann", PASSWORD)
    page.goto(site.url + "/signin")
    page.locator("main input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        sign_in_in_browser(page, "ann")
    assert answer.value.status == 403
    expect(page.locator("h1")).to_have_text("You may not do this")
    expect(page.locator("main")).to_contain_text("this form has expired or came from another site")
    assert "Traceback" not in page.content()
    assert not [c for c in page.context.cookies() if c["name"] == "kunveno_session"]
    shoot("csrf-refused")


# -- my page ----------------------------------------------------------------------------------


def test_starting_a_community_from_the_form(site: Site, page: Page, shoot: Shoot) -> None:
    sign_up_in_browser(page, site, "ann")
    page.goto(site.url + "/communities/new")
    page.get_by_label("Name").fill("Menders")
    page.get_by_label("Address").fill("not a slug!")
    page.get_by_label("Summary").fill("We fix things together.")
    page.get_by_label("How people join").select_option("approval")
    page.get_by_role("button", name="Start the community").click()
    expect(page.locator("#e-slug")).to_contain_text("A slug is 1-64 characters")
    expect(page.get_by_label("Summary")).to_have_value("We fix things together.")
    expect(page.get_by_label("How people join")).to_have_value("approval")
    shoot("community-new-errors")

    page.get_by_label("Address").fill("menders")
    page.get_by_role("button", name="Start the community").click()
    expect(page).to_have_url(site.url + "/communities/menders")
    page.goto(site.url + "/me")
    card = page.locator(".card", has_text="Menders")
    expect(card).to_contain_text("Owner")
    expect(card.get_by_role("link", name="Manage")).to_have_attribute(
        "href", "/communities/menders/admin"
    )


def test_my_page_shows_registrations_communities_and_notices(
    site: Site, page: Page, shoot: Shoot
) -> None:
    organiser = api_sign_up(site.api, "olga", PASSWORD)
    found(site.api, organiser, "cafe")
    gathering = schedule(site.api, organiser, "cafe", title="Repair café")
    herald = site.api.post(
        "/api/v1/communities/cafe/agents",
        json={"name": "Herald", "scopes": ["gatherings:write"]},
        headers=organiser,
    )
    assert herald.status_code == 201, herald.text
    sign_up_in_browser(page, site, "ann")
    ann = api_sign_in(site.api, "ann", PASSWORD)
    assert site.api.post("/api/v1/communities/cafe/members", headers=ann).status_code == 201
    register(site.api, gathering["id"], ann)
    notice = site.api.post(
        f"/api/v1/gatherings/{gathering['id']}/notices",
        json={"text": "Bring your tools."},
        headers={"Authorization": f"Bearer {herald.json()['token']}"},
    )
    assert notice.status_code == 201, notice.text

    page.goto(site.url + "/me")
    row = page.locator(".my-registrations > li", has_text="Repair café")
    expect(row.get_by_role("link", name="Repair café")).to_have_attribute(
        "href", f"/gatherings/{gathering['id']}"
    )
    expect(row).to_contain_text("Confirmed")
    expect(page.locator(".card", has_text="Cafe")).to_contain_text("Member")
    expect(page.locator(".card", has_text="Cafe").get_by_role("link", name="Manage")).to_have_count(
        0
    )
    notices = page.locator(".my-notices")
    expect(notices).to_contain_text("Bring your tools.")
    expect(notices.locator(".agent-label")).to_have_text("by agent Herald")
    shoot("me")
    page.set_viewport_size({"width": 375, "height": 800})
    shoot("me-phone")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(site.url + "/me?done=cancelled")
    expect(page.get_by_role("status")).to_have_text("Your registration is cancelled.")
    expect(row).to_contain_text("Cancelled")
    expect(row.get_by_role("button")).to_have_count(0)


# -- my data -------------------------------------------------------------------------------


def test_my_data_shows_counts_and_the_export_downloads_as_a_zip(
    site: Site, page: Page, shoot: Shoot
) -> None:
    sign_up_in_browser(page, site, "ann")
    ann = api_sign_in(site.api, "ann", PASSWORD)
    found(site.api, ann, "menders")
    page.goto(site.url + "/me/data")
    expect(page.locator("tr", has_text="Communities you belong to")).to_contain_text("1")
    expect(page.locator("tr", has_text="Your account")).to_be_visible()
    expect(page.locator("main")).to_contain_text("recorded events are about you")
    expect(page.locator("#export-progress")).to_be_hidden()
    shoot("me-data")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    expect(page.locator("#export-progress")).to_be_visible()  # shown while it was prepared
    assert download.value.suggested_filename == "kunveno-ann.zip"
    with zipfile.ZipFile(download.value.path()) as archive:
        actor = json.loads(archive.read("actor.json"))
    assert actor["preferredUsername"] == "ann"
    shoot("me-data-exporting")

    whole = page.request.get(site.url + "/me/data/export.zip")
    assert whole.headers["content-disposition"].startswith("attachment")
    part = page.request.get(site.url + "/me/data/export.zip", headers={"Range": "bytes=0-3"})
    assert (part.status, part.body()) == (206, b"PK\x03\x04")
    assert zipfile.ZipFile(io.BytesIO(whole.body())).testzip() is None


def test_deleting_my_account_signs_me_out_for_good(site: Site, page: Page, shoot: Shoot) -> None:
    sign_up_in_browser(page, site, "ann", **{"Email": "ann@example.org"})
    cookie = session_cookie(page)
    page.goto(site.url + "/me/data")
    page.get_by_role("link", name="Delete my account…").click()
    expect(page.locator("h1")).to_have_text("Delete my account")
    expect(page.locator("main")).to_contain_text("cannot be undone")
    shoot("erase")

    page.get_by_label("I understand").check()
    page.get_by_label("Your password").fill("not-the-password")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("#e-password")).to_have_text("This is not your password.")
    shoot("erase-errors")

    page.get_by_label("I understand").check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete my account for good").click()
    expect(page.locator("h1")).to_have_text("Your account is deleted")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "kunveno_session"]
    shoot("goodbye")

    page.context.add_cookies([cookie])  # type: ignore[list-item]
    page.goto(site.url + "/me")
    expect(page).to_have_url(re.compile(r"/signin\?then=/me$"))
    sign_in_in_browser(page, "ann")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password. Please try again.")


def test_a_dialog_dismissed_keeps_the_account(site: Site, page: Page) -> None:
    sign_up_in_browser(page, site, "ann")
    page.goto(site.url + "/me/erase")
    page.get_by_label("I understand").check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete my account for good").click()
    page.goto(site.url + "/me")
    expect(page.locator("h1")).to_have_text("Hello, ann")


# -- accessibility ------------------------------------------------------------------------------


def test_the_account_pages_pass_an_accessibility_check(site: Site, page: Page) -> None:
    """axe-core (served by the test, never fetched) finds nothing on any account page."""
    axe = Axe()
    page.goto(site.url + "/signup")
    pages = {"/signup": axe.run(page)}
    sign_up_in_browser(page, site, "ann")
    for path in ("/me", "/me/data", "/me/erase", "/communities/new"):
        answer = page.goto(site.url + path)
        assert answer is not None
        assert answer.status == 200
        pages[path] = axe.run(page)
    page.get_by_role("button", name="Sign out").click()
    page.goto(site.url + "/signin?then=/me")
    pages["/signin"] = axe.run(page)
    found = {
        path: [(v["id"], v["impact"]) for v in results.response["violations"]]
        for path, results in pages.items()
    }
    assert found == {path: [] for path in pages}


# -- another language -----------------------------------------------------------------------


def test_lang_eo_shows_the_pages_in_esperanto(site: Site, page: Page, shoot: Shoot) -> None:
    page.goto(site.url + "/?lang=eo")
    expect(page.locator("html")).to_have_attribute("lang", "eo")
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name="Ensaluti")).to_be_visible()
    expect(nav.get_by_role("link", name="Registriĝi")).to_be_visible()
    nav.get_by_role("link", name="Registriĝi").click()  # the choice is kept (a cookie)
    expect(page.locator("h1")).to_have_text("Kreu vian konton")
    shoot("signup-eo")
    page.get_by_label("Uzantnomo").fill("Ann Smith")
    page.get_by_label("Pasvorto").fill(PASSWORD)
    page.get_by_role("button", name="Registriĝi").click()
    expect(page.locator("#e-username")).to_have_text(
        "Uzantnomo havas 1-64 signojn el a-z, 0-9 kaj _."
    )


def test_accept_language_eo_shows_the_pages_in_esperanto(site: Site, browser: Browser) -> None:
    context = browser.new_context(extra_http_headers={"Accept-Language": "eo, en;q=0.5"})
    try:
        page = context.new_page()
        page.goto(site.url + "/signin")
        expect(page.locator("html")).to_have_attribute("lang", "eo")
        expect(page.locator("h1")).to_have_text("Ensaluti")
        expect(
            page.get_by_role("navigation").get_by_role("link", name="Registriĝi")
        ).to_be_visible()
    finally:
        context.close()
