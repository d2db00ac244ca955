"""The public pages in a real browser: a community, a gathering, registering (signed in and
anonymously), cancelling with the cancel link, following and sharing from the fediverse; and
the same URLs still answering ActivityStreams JSON to peers. Every browser test proves that
the page made no request to any other origin, and leaves a screenshot of what it saw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from api_helpers import Headers, found, gathering, gathering_body, schedule, sign_up
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from federation_support import ServedNode, served_node
from fetch_servers import document, serving
from playwright.sync_api import Page, expect

from conftest import free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AP = {"Accept": "application/activity+json"}
HTML = {"Accept": "text/html"}
SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A visitor far from the gatherings' zone (Europe/Amsterdam), to see both times."""
    return {**browser_context_args, "timezone_id": "America/New_York", "locale": "en-GB"}


@pytest.fixture
def site(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


class OwnOrigin:
    """Records every request the page makes; all of them must go to the node."""

    def __init__(self, page: Page, origin: str) -> None:
        self.netloc = urlsplit(origin).netloc
        self.seen: list[str] = []
        page.on("request", lambda request: self.seen.append(request.url))

    def check(self) -> None:
        assert self.seen
        elsewhere = [url for url in self.seen if urlsplit(url).netloc != self.netloc]
        assert not elsewhere, elsewhere


@pytest.fixture
def own(site: ServedNode, page: Page) -> Iterator[OwnOrigin]:
    watcher = OwnOrigin(page, site.url)
    yield watcher
    watcher.check()


def status_of(page: Page, url: str) -> int:
    answer = page.goto(url)
    assert answer is not None
    return answer.status


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def token_of(site: ServedNode, username: str) -> str:
    answer = site.api.post(
        "/api/v1/sessions", json={"username": username, "password": "s3cret-pass"}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def sign_in_browser(page: Page, site: ServedNode, username: str) -> None:
    """Signs the browser in as ``username`` (an API session token in the session cookie)."""
    cookie = {"name": "kunveno_session", "value": token_of(site, username), "url": site.url}
    page.context.add_cookies([cookie])  # type: ignore[list-item]


def menders(site: ServedNode, **gathering: Any) -> tuple[Headers, dict[str, Any]]:
    owner = sign_up(site.api, "olga")
    found(site.api, owner, "menders")
    return owner, schedule(site.api, owner, "menders", **gathering)


def publish(site: ServedNode, headers: Headers, content: str) -> dict[str, Any]:
    answer = site.api.post(
        "/api/v1/communities/menders/posts", json={"content": content}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def agent_headers(site: ServedNode, owner: Headers, name: str) -> Headers:
    answer = site.api.post(
        "/api/v1/communities/menders/agents",
        json={"name": name, "scopes": ["posts:write", "gatherings:write"]},
        headers=owner,
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def form_token(page_html: str) -> str:
    found_token = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found_token is not None
    return found_token.group(1)


# -- a community -------------------------------------------------------------------------------


def test_a_community_page_shows_its_gatherings_and_posts(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    owner, created = menders(site)
    publish(site, owner, "Bring your broken toasters.\nWe have spare fuses.")
    bot = agent_headers(site, owner, "Helper")
    publish(site, bot, "Reminder: the café opens at ten.")
    site.api.post(
        "/api/v1/communities/menders/gatherings",
        json={**_body(), "title": "Bike clinic"},
        headers=bot,
    ).raise_for_status()

    assert status_of(page, site.url + "/communities/menders") == 200
    expect(page.locator("h1")).to_have_text("Menders")
    assert page.locator("h1").count() == 1
    expect(page.locator(".members")).to_have_text("1 member")
    expect(page.get_by_role("link", name=created["title"])).to_be_visible()
    bike = page.locator(".card", has_text="Bike clinic")
    expect(bike.locator(".agent-label")).to_have_text("by agent Helper")
    expect(page.get_by_text("Bring your broken toasters.")).to_be_visible()
    by_bot = page.locator(".post", has_text="the café opens at ten")
    expect(by_bot.locator(".agent-label")).to_have_text("by agent Helper")
    calendar = page.get_by_role("link", name=re.compile("Calendar feed"))
    assert calendar.get_attribute("href") == "/communities/menders/calendar.ics"
    expect(page.get_by_label("Your handle")).to_be_visible()
    shot(page, "community")
    page.set_viewport_size({"width": 375, "height": 740})
    shot(page, "community-phone")
    page.get_by_role("link", name=created["title"]).click()
    shot(page, "gathering-phone")


def test_a_visitor_joins_with_one_button_after_signing_in(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    menders(site)
    sign_up(site.api, "pat")
    page.goto(site.url + "/communities/menders")
    page.get_by_role("button", name="Join").click()
    assert urlsplit(page.url).path == "/signin"
    assert urlsplit(page.url).query == "then=/communities/menders"
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill("s3cret-pass")
    page.get_by_role("button", name="Sign in").click()
    assert urlsplit(page.url).path == "/communities/menders"

    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("status")).to_contain_text("you are now a member")
    expect(page.get_by_text("You are a member.")).to_be_visible()
    expect(page.locator(".members")).to_have_text("2 members")
    assert page.get_by_role("button", name="Join").count() == 0
    shot(page, "community-joined")


def test_asking_to_join_a_community_that_approves_members(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    owner = sign_up(site.api, "olga")
    found(site.api, owner, "quilters", membership="approval")
    sign_up(site.api, "pat")
    sign_in_browser(page, site, "pat")
    page.goto(site.url + "/communities/quilters")
    page.get_by_role("button", name="Ask to join").click()
    expect(page.get_by_text("Your request to join is waiting for an organiser.")).to_be_visible()
    expect(page.locator(".members")).to_have_text("1 member")


def test_a_members_only_community_is_not_found_by_outsiders(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    owner = sign_up(site.api, "olga")
    found(site.api, owner, "family", visibility="private")
    created = schedule(site.api, owner, "family")
    for path in ("/communities/family", f"/gatherings/{created['id']}"):
        assert status_of(page, site.url + path) == 404
        expect(page.locator("h1")).to_have_text("This page does not exist")
        assert "Repair" not in page.content()
    assert site.api.get(f"/gatherings/{created['id']}/calendar.ics").status_code == 404
    assert site.api.get("/communities/family/follow", headers=HTML).status_code == 404
    sign_up(site.api, "stranger")
    sign_in_browser(page, site, "stranger")
    assert status_of(page, site.url + "/communities/family") == 404

    sign_in_browser(page, site, "olga")
    assert status_of(page, site.url + "/communities/family") == 200
    expect(page.get_by_text("Members-only community")).to_be_visible()
    assert page.get_by_label("Your handle").count() == 0  # not published: not followable
    assert status_of(page, site.url + f"/gatherings/{created['id']}") == 200
    assert page.get_by_label("Share on your fediverse server").count() == 0


# -- a gathering -------------------------------------------------------------------------------


def test_an_anonymous_registration_shows_a_cancel_link_which_cancels(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    _, created = menders(site, capacity=2)
    assert status_of(page, site.url + f"/gatherings/{created['id']}") == 200
    expect(page.locator("h1")).to_have_text(created["title"])
    expect(page.get_by_text("2 seats left")).to_be_visible()
    expect(page.locator("time[data-local]")).to_contain_text("Central European")
    expect(page.locator(".local-time")).to_contain_text("your time")
    shot(page, "gathering")

    page.get_by_label("Your email (optional)").fill("not an email")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#e-email")).to_be_visible()
    expect(page.get_by_label("Your email (optional)")).to_have_value("not an email")
    expect(page.get_by_label("Your email (optional)")).to_have_attribute("aria-invalid", "true")
    shot(page, "gathering-form-error")

    page.get_by_label("Your email (optional)").fill("ana@example.org")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Confirmed"))
    cancel_url = page.locator("#cancel-link").inner_text()
    assert cancel_url.startswith(f"{site.url}/registrations/")
    assert "/cancel?token=" in cancel_url
    assert gathering(site.api, created["id"])["registration_count"] == 1
    shot(page, "registration")

    page.goto(cancel_url)
    expect(page.locator("h1")).to_have_text("Cancel your registration?")
    shot(page, "registration-cancel")
    page.get_by_role("button", name="Yes, cancel my registration").click()
    assert urlsplit(page.url).path == f"/gatherings/{created['id']}"
    expect(page.locator(".notice")).to_have_text("Your registration is cancelled.")
    expect(page.get_by_text("2 seats left")).to_be_visible()
    assert gathering(site.api, created["id"])["registration_count"] == 0
    page.goto(cancel_url)
    expect(page.get_by_text("This registration is already cancelled.")).to_be_visible()


def test_signed_in_people_register_with_one_button_and_the_waitlist_moves_up(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    _, created = menders(site, capacity=1)
    path = f"/gatherings/{created['id']}"
    page.on("dialog", lambda dialog: dialog.accept())
    sign_up(site.api, "pat")
    sign_up(site.api, "kim")

    sign_in_browser(page, site, "pat")
    page.goto(site.url + path)
    assert page.get_by_label("Your email (optional)").count() == 0
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".registration-status")).to_have_text("You are registered.")
    expect(page.get_by_text("0 seats left")).to_be_visible()

    sign_in_browser(page, site, "kim")
    page.goto(site.url + path)
    expect(page.get_by_text("It is full: you can join the waitlist.")).to_be_visible()
    page.get_by_role("button", name="Join the waitlist").click()
    expect(page.locator(".registration-status")).to_contain_text("You are on the waitlist")
    expect(page.get_by_text("1 on the waitlist")).to_be_visible()
    shot(page, "gathering-waitlisted")

    sign_in_browser(page, site, "pat")
    page.goto(site.url + path)
    page.get_by_role("button", name="Cancel my registration").click()
    expect(page.locator(".notice")).to_have_text("Your registration is cancelled.")
    # Kim, first on the waitlist, took the freed seat at once.
    expect(page.get_by_text("0 seats left")).to_be_visible()
    expect(page.get_by_role("button", name="Join the waitlist")).to_be_visible()

    sign_in_browser(page, site, "kim")
    page.goto(site.url + path)
    expect(page.locator(".registration-status")).to_have_text("You are registered.")


def test_a_cancelled_gathering_says_so_and_takes_no_registration(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    owner, created = menders(site)
    site.api.post(f"/api/v1/gatherings/{created['id']}/cancel", headers=owner).raise_for_status()
    page.goto(site.url + f"/gatherings/{created['id']}")
    expect(page.locator(".status-cancelled")).to_contain_text("Cancelled")
    assert page.get_by_role("button", name="Register").count() == 0
    expect(page.get_by_text("Registration is closed: this gathering is cancelled.")).to_be_visible()
    shot(page, "gathering-cancelled")
    page.goto(site.url + "/communities/menders")
    expect(page.locator(".card .cancelled")).to_have_text("Cancelled")


def test_a_gathering_names_its_organiser_and_the_agent_that_scheduled_it(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    owner, _ = menders(site)
    bot = agent_headers(site, owner, "Helper")
    answer = site.api.post(
        "/api/v1/communities/menders/gatherings",
        json={**_body(), "title": "Bike clinic", "online_url": "https://meet.example/bikes"},
        headers=bot,
    )
    assert answer.status_code == 201, answer.text
    page.goto(site.url + f"/gatherings/{answer.json()['id']}")
    organiser = page.locator("dd", has=page.get_by_role("link", name="Menders"))
    expect(organiser.locator(".agent-label")).to_have_text("by agent Helper")
    online = page.get_by_role("link", name=re.compile("Online"))
    assert online.get_attribute("href") == "https://meet.example/bikes"
    expect(page.get_by_text("No limit")).to_be_visible()


def test_a_gathering_can_be_added_to_a_calendar(site: ServedNode) -> None:
    _, created = menders(site)
    answer = site.api.get(f"/gatherings/{created['id']}/calendar.ics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    assert "attachment" in answer.headers["content-disposition"]
    assert "SUMMARY:Repair café" in answer.text
    assert answer.text.count("BEGIN:VEVENT") == 1


def test_sharing_to_the_fediverse_is_a_link_to_the_visitors_server(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    _, created = menders(site)
    page.goto(site.url + f"/gatherings/{created['id']}")
    page.get_by_label("Share on your fediverse server").fill("https://Social.Example/")
    page.get_by_role("button", name="Share").click()
    link = page.get_by_role("link", name="Continue to your server")
    href = link.get_attribute("href") or ""
    text = f"{created['title']}\n{site.url}/gatherings/{created['id']}"
    assert href == f"https://social.example/share?text={quote(text, safe='')}"
    shot(page, "share")

    answer = site.api.get(
        f"/gatherings/{created['id']}/share", params={"server": "not a server"}, headers=HTML
    )
    assert answer.status_code == 422
    assert 'value="not a server"' in answer.text
    assert "Enter your server" in answer.text


# -- following a community from another server ------------------------------------------------


def test_following_from_the_fediverse_links_to_the_remote_subscribe_page(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    menders(site)
    with serving() as remote:
        host = f"127.0.0.1:{remote.port}"
        template = f"http://{host}/authorize_interaction?uri={{uri}}"
        jrd = {
            "subject": f"acct:alex@{host}",
            "links": [
                {"rel": "self", "type": "application/activity+json", "href": f"http://{host}/u"},
                {"rel": SUBSCRIBE, "template": template},
            ],
        }
        remote.route(
            f"/.well-known/webfinger?resource=acct:alex@{host}",
            document(jrd, "application/jrd+json"),
        )
        page.goto(site.url + "/communities/menders")
        page.get_by_label("Your handle").fill(f"@alex@{host}")
        page.get_by_role("button", name="Find my server").click()
        link = page.get_by_role("link", name="Continue to your server")
        expected = template.replace("{uri}", quote(f"{site.url}/communities/menders", safe=""))
        assert link.get_attribute("href") == expected
        shot(page, "follow")
        # The node asked the handle's server; the browser never did.
        assert [seen.path for seen in remote.seen] == [
            f"/.well-known/webfinger?resource=acct:alex@{host}"
        ]


def test_a_handle_that_cannot_be_followed_is_explained_and_kept(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    menders(site)
    page.goto(site.url + "/communities/menders/follow")
    page.get_by_label("Your handle").fill("just-a-name")
    page.get_by_role("button", name="Find my server").click()
    expect(page.locator("#e-handle")).to_contain_text("name@your.server")
    expect(page.get_by_label("Your handle")).to_have_value("just-a-name")

    nobody = f"alex@127.0.0.1:{free_port()}"
    page.get_by_label("Your handle").fill(nobody)
    page.get_by_role("button", name="Find my server").click()
    expect(page.locator("#e-handle")).to_contain_text("did not answer")
    expect(page.get_by_label("Your handle")).to_have_value(nobody)
    shot(page, "follow-error")


def test_a_server_without_a_follow_page_gets_the_handle_to_search(site: ServedNode) -> None:
    menders(site)
    with serving() as remote:
        host = f"127.0.0.1:{remote.port}"
        remote.route(
            f"/.well-known/webfinger?resource=acct:alex@{host}",
            document({"subject": f"acct:alex@{host}", "links": []}, "application/jrd+json"),
        )
        page_html = site.api.get("/communities/menders/follow", headers=HTML)
        answer = site.api.post(
            "/communities/menders/follow",
            data={"handle": f"alex@{host}", "csrf_token": form_token(page_html.text)},
            headers=HTML,
        )
    assert answer.status_code == 200, answer.text
    assert "does not offer a follow page" in answer.text
    assert "Continue to your server" not in answer.text


# -- a person, a post, and the same URLs for peers ---------------------------------------------


def test_a_person_and_a_post_have_pages(site: ServedNode, page: Page, own: OwnOrigin) -> None:
    owner, _ = menders(site)
    post = publish(site, owner, "Hello, menders.")
    page.goto(site.url + "/users/olga")
    expect(page.locator("h1")).to_have_text("olga")
    host = urlsplit(site.url).netloc
    expect(page.get_by_text(f"@olga@{host}", exact=True)).to_be_visible()
    shot(page, "person")
    page.goto(site.url + f"/posts/{post['id']}")
    expect(page.get_by_text("Hello, menders.")).to_be_visible()
    expect(page.get_by_role("link", name="olga")).to_have_attribute("href", "/users/olga")
    shot(page, "post")


def test_peers_still_get_activitystreams_json_at_the_same_urls(site: ServedNode) -> None:
    owner, created = menders(site)
    post = publish(site, owner, "Hello, menders.")
    kinds = {
        "/communities/menders": "Group",
        f"/gatherings/{created['id']}": "Event",
        "/users/olga": "Person",
        f"/posts/{post['id']}": "Note",
    }
    for path, kind in kinds.items():
        answer = site.api.get(path, headers=AP)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/activity+json")
        assert json.loads(answer.text)["type"] == kind
        page = site.api.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert "Accept" in page.headers["vary"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.text.count("<h1") == 1


def test_unknown_and_malformed_addresses_are_404_pages(site: ServedNode) -> None:
    menders(site)
    for path in (
        "/communities/nobody",
        "/gatherings/not-a-uuid",
        "/gatherings/00000000-0000-0000-0000-000000000000",
        "/users/nobody",
        "/posts/not-a-uuid",
        "/registrations/00000000-0000-0000-0000-000000000000?token=x",
    ):
        answer = site.api.get(path, headers=HTML)
        assert answer.status_code == 404, path
        assert "This page does not exist" in answer.text
    assert site.api.get("/communities/nobody", headers=AP).status_code == 404


def test_a_form_posted_without_its_token_is_refused(site: ServedNode) -> None:
    _, created = menders(site)
    answer = site.api.post(
        f"/gatherings/{created['id']}/register", data={"email": ""}, headers=HTML
    )
    assert answer.status_code == 403
    assert gathering(site.api, created["id"])["registration_count"] == 0


def test_a_wrong_cancel_token_cancels_nothing(site: ServedNode) -> None:
    _, created = menders(site)
    registered = site.api.post(f"/api/v1/gatherings/{created['id']}/registrations")
    registration = registered.json()["id"]
    form_page = site.api.get(f"/registrations/{registration}/cancel?token=wrong", headers=HTML)
    assert form_page.status_code == 200
    answer = site.api.post(
        f"/registrations/{registration}/cancel",
        data={"token": "wrong", "csrf_token": form_token(form_page.text)},
        headers=HTML,
    )
    assert answer.status_code == 403
    assert gathering(site.api, created["id"])["registration_count"] == 1
    assert site.api.get(f"/registrations/{registration}", headers=HTML).status_code == 404


def _body() -> dict[str, Any]:
    return gathering_body(capacity=None)


# -- accessibility ------------------------------------------------------------------------------


def test_the_public_pages_pass_an_accessibility_check(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    """axe-core (injected by the test, never fetched by the page) finds nothing to fix."""
    owner, created = menders(site)
    post = publish(site, owner, "Hello, menders.")
    registered = site.api.post(f"/api/v1/gatherings/{created['id']}/registrations").json()
    token = quote(registered["cancel_token"])
    paths = [
        "/communities/menders",
        "/communities/menders/follow",
        f"/gatherings/{created['id']}",
        f"/gatherings/{created['id']}/share?server=social.example",
        f"/gatherings/{created['id']}/share?server=no+such+server",
        f"/registrations/{registered['id']}?token={token}",
        f"/registrations/{registered['id']}/cancel?token={token}",
        "/users/olga",
        f"/posts/{post['id']}",
    ]
    axe = Axe()
    found_violations = {}
    for path in paths:
        page.goto(site.url + path)
        response = axe.run(page).response
        assert response["passes"], path  # axe did run
        found_violations[path] = [(v["id"], v["impact"]) for v in response["violations"]]
    assert found_violations == {path: [] for path in paths}


def test_an_agents_page_says_what_it_is_and_who_runs_it(
    site: ServedNode, page: Page, own: OwnOrigin
) -> None:
    owner, _ = menders(site)
    answer = site.api.post(
        "/api/v1/communities/menders/agents",
        json={"name": "Reminder", "description": "Reminds us.", "scopes": ["posts:write"]},
        headers=owner,
    )
    agent = answer.json()["agent"]
    assert status_of(page, f"{site.url}/agents/{agent['id']}") == 200
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reminder")
    expect(page.get_by_role("link", name="Menders")).to_be_visible()
    expect(page.get_by_text("posts:write")).to_be_visible()
    result = Axe().run(page).response
    assert result["violations"] == []
    shot(page, "agent")
    site.api.delete(f"/api/v1/agents/{agent['id']}", headers=owner)
    assert status_of(page, f"{site.url}/agents/{agent['id']}") == 410
