"""The whole journey in a real browser, as people would make it, with nothing but pages.

Ada signs up, starts a community and schedules a gathering with two seats. A visitor with no
account registers anonymously; Bea signs up and registers; Cem signs up and is waitlisted.
Ada sees two registrations, one of them anonymous: counted, never named. The anonymous
visitor cancels with the link they were given, and Cem is promoted. Every request of every
browser goes to the node and nowhere else; every page is screenshotted and checked by axe.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from federation_support import ServedNode, served_node
from playwright.sync_api import Browser, BrowserContext, Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "a long pass phrase"
ZONE = "Europe/Amsterdam"


@pytest.fixture
def site(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


class Visitor:
    """One person's browser: its own cookies, every request it makes recorded."""

    def __init__(self, browser: Browser, site: ServedNode, name: str) -> None:
        self.name = name
        self.site = site
        self.context: BrowserContext = browser.new_context(
            timezone_id="America/New_York", locale="en-GB", viewport={"width": 1000, "height": 800}
        )
        self.requests: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page: Page = self.context.new_page()
        self.violations: dict[str, list[str]] = {}

    def go(self, path: str) -> Page:
        answer = self.page.goto(self.site.url + path)
        assert answer is not None
        assert answer.status == 200, (path, answer.status)
        return self.page

    def look(self, label: str) -> None:
        """A screenshot of what they see, and axe's verdict on it."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"journey-{label}.png"), full_page=True)
        result = Axe().run(self.page).response
        assert result["passes"], label  # axe ran
        self.violations[label] = [v["id"] for v in result["violations"]]

    def sign_up(self, username: str) -> None:
        page = self.go("/signup")
        self.look(f"{self.name}-signup")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Display name").fill(username.title())
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    def close(self) -> None:
        elsewhere = [
            url for url in self.requests if urlsplit(url).netloc != urlsplit(self.site.url).netloc
        ]
        assert self.requests, self.name
        assert elsewhere == [], (self.name, elsewhere)
        assert self.violations, self.name
        assert all(v == [] for v in self.violations.values()), self.violations
        self.context.close()


def test_a_gathering_fills_waitlists_and_promotes_through_the_pages(
    site: ServedNode, browser: Browser
) -> None:
    ada, visitor, bea, cem = (
        Visitor(browser, site, name) for name in ("ada", "visitor", "bea", "cem")
    )

    # Ada signs up, starts a community, schedules a gathering with two seats.
    ada.sign_up("ada")
    page = ada.go("/communities/new")
    ada.look("ada-new-community")
    page.get_by_label("Name").fill("Repair Café Zuid")
    page.get_by_label("Address").fill("repair-zuid")
    page.get_by_label("Summary").fill("We mend things together, every month.")
    page.get_by_role("button", name="Start the community").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Repair Café Zuid")
    ada.look("ada-community")

    page = ada.go("/communities/repair-zuid/admin/gatherings/new")
    ada.look("ada-new-gathering")
    start = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=5)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    page.get_by_label("Title").fill("Mending afternoon")
    page.get_by_label("Time zone").fill(ZONE)
    page.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill((start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Place").fill("Library, room 2")
    page.get_by_label("Seats").fill("2")
    page.get_by_label("People may register without an account").check()
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_text("Mending afternoon").first).to_be_visible()
    ada.look("ada-gatherings")
    [gathering_id] = site.api.get("/api/v1/communities/repair-zuid/gatherings").json()
    gathering = f"/gatherings/{gathering_id['id']}"

    # A visitor without an account registers anonymously, with an email, and keeps the link.
    page = visitor.go(gathering)
    visitor.look("visitor-gathering")
    expect(page.get_by_text("14:00").first).to_be_visible()  # in the gathering's own zone
    page.get_by_label("Your email (optional)").fill("visitor@example.org")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text("Confirmed")
    visitor.look("visitor-registered")
    cancel_link = page.locator("#cancel-link").inner_text()
    assert cancel_link.startswith(site.url + "/registrations/")

    # Bea signs up and takes the second seat; Cem signs up and finds it full: the waitlist.
    bea.sign_up("bea")
    page = bea.go(gathering)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("You are registered.")).to_be_visible()
    bea.look("bea-registered")

    cem.sign_up("cem")
    page = cem.go(gathering)
    expect(page.get_by_text("It is full")).to_be_visible()
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.get_by_text("You are on the waitlist")).to_be_visible()
    cem.look("cem-waitlisted")

    # Ada sees two registrations: Bea by name, the anonymous one counted and never named.
    page = ada.go(f"/communities/repair-zuid/admin{gathering}/registrations")
    ada.look("ada-registrations")
    expect(page.locator("#anonymous-count")).to_contain_text("1 anonymous registration")
    table = page.locator("table").inner_text()
    assert "Bea" in table or "bea" in table
    assert "Cem" in table or "cem" in table
    assert "visitor@example.org" not in page.content()
    expect(page.get_by_text("Confirmed: 2")).to_be_visible()
    expect(page.get_by_text("Waiting list: 1")).to_be_visible()

    # The visitor cancels with their link; Cem is promoted.
    page = visitor.go(urlsplit(cancel_link).path + "?" + urlsplit(cancel_link).query)
    visitor.look("visitor-cancel")
    page.get_by_role("button", name="Yes, cancel my registration").click()
    visitor.look("visitor-cancelled")

    page = cem.go(gathering)
    expect(page.get_by_text("You are registered.")).to_be_visible()
    cem.look("cem-promoted")
    page = cem.go("/me")
    expect(page.get_by_text("Mending afternoon").first).to_be_visible()
    cem.look("cem-my-page")

    page = ada.go(f"/communities/repair-zuid/admin{gathering}/registrations")
    expect(page.get_by_text("Confirmed: 2")).to_be_visible()
    expect(page.get_by_text("Waiting list: 0")).to_be_visible()
    expect(page.locator("#anonymous-count")).to_contain_text("0 anonymous registrations")
    ada.look("ada-registrations-after")

    page = ada.go("/")
    expect(page.get_by_text("Repair Café Zuid").first).to_be_visible()
    ada.look("ada-home")

    for person in (ada, visitor, bea, cem):
        person.close()
