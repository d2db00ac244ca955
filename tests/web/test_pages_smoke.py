"""The page foundation in a real browser: a page loads from this node only, under its policy."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from conftest import LiveServer
from conftest import test_settings as settings_for
from kunveno.bootstrap import build


@pytest.fixture
def site(database_url: str) -> Iterator[str]:
    node = build(settings_for(database_url))
    try:
        with LiveServer(node) as server:
            yield server.url
    finally:
        node.close()


def test_the_home_page_loads_everything_from_its_own_origin(site: str, page: Page) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    answer = page.goto(site + "/")
    assert answer is not None
    assert answer.status == 200
    assert "default-src 'self'" in (answer.headers.get("content-security-policy") or "")
    assert page.locator("h1").count() == 1
    assert page.locator("main").count() == 1
    assert {urlsplit(url).netloc for url in requested} == {urlsplit(site).netloc}
    assert any("/static/kunveno.css" in url for url in requested)
    assert any("/static/kunveno.js" in url for url in requested)


def test_an_unknown_address_is_a_page_a_person_understands(site: str, page: Page) -> None:
    answer = page.goto(site + "/no/such/page")
    assert answer is not None
    assert answer.status == 404
    assert page.locator("h1").inner_text() == "This page does not exist"
    assert "Traceback" not in page.content()
