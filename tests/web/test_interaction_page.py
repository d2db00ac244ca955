"""The page other servers send people to (our WebFinger subscribe template): it shows what
is to be followed and acts only on the person's confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from api_helpers import sign_up
from federation_support import ServedNode, served_node
from peer import Peer


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


@pytest.fixture
def peer() -> Iterator[Peer]:
    with Peer() as running:
        yield running


def browser_of(node: ServedNode, username: str) -> httpx.Client:
    """A client holding the person's session cookie, as a browser would."""
    token = sign_up(node.api, username)["Authorization"].removeprefix("Bearer ")
    client = httpx.Client(base_url=node.url, headers={"Accept": "text/html"})
    client.cookies.set("kunveno_session", token)
    return client


def test_following_from_another_servers_page_asks_first_then_follows(
    node: ServedNode, peer: Peer
) -> None:
    browser = browser_of(node, "bea")
    host = node.url.removeprefix("http://")
    template = node.api.get(f"/.well-known/webfinger?resource=acct:bea@{host}")
    subscribe = next(
        link["template"]
        for link in template.json()["links"]
        if link["rel"] == "http://ostatus.org/schema/1.0/subscribe"
    )
    path = subscribe.replace(node.url, "").replace("{uri}", quote(peer.actor, safe=""))
    # Signed out: to the sign-in page first.
    anonymous = httpx.get(node.url + path, headers={"Accept": "text/html"})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/signin?then=")
    with browser:
        shown = browser.get(path)
        assert shown.status_code == 200, shown.text
        assert peer.actor in shown.text
        assert "Follow" in shown.text
        assert peer.received_of("Follow") == []  # a visit does nothing
        token = browser.cookies["kunveno_csrf"]
        done = browser.post("/authorize_interaction", data={"csrf_token": token, "uri": peer.actor})
        assert done.status_code == 303
        follow = peer.wait_for("Follow", actor=f"{node.url}/users/bea")
        assert follow["object"] == peer.actor
        # Without the form's token, nothing is sent.
        forged = browser.post("/authorize_interaction", data={"uri": peer.actor})
        assert forged.status_code == 403
        unknown = browser.get("/authorize_interaction?uri=" + quote("http://127.0.0.1:9/x"))
        assert unknown.status_code in (422, 502)
        assert "<h1>" in unknown.text
