"""SafeHttp against real HTTP servers on loopback (SECURITY.md I-3, I-4, I-5).

Only loopback is ever contacted. Refusals of "private" addresses use loopback itself with
``allow_private=False``; hostile DNS is simulated by answering fake names with loopback
addresses and telling the classifier that only 127.0.0.1 counts as public.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from fetch_servers import (
    AS_JSON,
    FetchServer,
    document,
    dribble,
    redirect,
    reply,
    serving,
)

from kunveno.adapters.activitypub import fetching
from kunveno.adapters.activitypub.fetching import FetchError, FetchPolicy, SafeHttp

OPEN = FetchPolicy(
    allow_http=True, allow_private=True, connect_timeout=2, read_timeout=2, deadline=4
)

MakeClient = Callable[..., SafeHttp]


@pytest.fixture
def server() -> Iterator[FetchServer]:
    with serving() as running:
        yield running


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    clients: list[SafeHttp] = []

    def make(policy: FetchPolicy = OPEN, **kwargs: Any) -> SafeHttp:
        client = SafeHttp(policy, user_agent="kunveno-test/1", **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def self_describing(server: FetchServer, path: str, **extra: Any) -> str:
    """Serves at ``path`` a document whose id is its own URL."""
    return server.route(path, document({"id": server.url(path), **extra}))


def refused(code: str, call: Callable[[], object]) -> FetchError:
    with pytest.raises(FetchError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


# --- the happy path and content types ---------------------------------------------------------


def test_fetches_a_document_at_its_id(server: FetchServer, make_client: MakeClient) -> None:
    url = self_describing(server, "/users/ada", type="Person")

    assert make_client().get_activity_json(url) == {"id": url, "type": "Person"}
    [request] = server.seen
    assert request.headers["accept"] == fetching.ACCEPT_ACTIVITY
    assert request.headers["user-agent"] == "kunveno-test/1"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/activity+json",
        "application/activity+json; charset=utf-8",
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
    ],
)
def test_activity_content_types_are_accepted(
    server: FetchServer, make_client: MakeClient, content_type: str
) -> None:
    url = server.url("/note")
    server.route("/note", document({"id": url}, content_type))

    assert make_client().get_activity_json(url)["id"] == url


@pytest.mark.parametrize("content_type", ["text/html", "application/json", ""])
def test_other_content_types_are_refused(
    server: FetchServer, make_client: MakeClient, content_type: str
) -> None:
    url = server.url("/note")
    headers = {"Content-Type": content_type} if content_type else {}
    server.route("/note", reply(200, json.dumps({"id": url}).encode(), headers))

    refused("content_type_refused", lambda: make_client().get_activity_json(url))


@pytest.mark.parametrize("body", [b"[1, 2]", b"{nope", b"[" * 100_000 + b"]" * 100_000])
def test_anything_but_a_json_object_is_refused(
    server: FetchServer, make_client: MakeClient, body: bytes
) -> None:
    url = server.route("/note", reply(200, body, {"Content-Type": AS_JSON}))

    refused("json_invalid", lambda: make_client().get_activity_json(url))


# --- refused before connecting ----------------------------------------------------------------


def test_http_is_refused_unless_allowed(server: FetchServer, make_client: MakeClient) -> None:
    url = self_describing(server, "/note")
    client = make_client(FetchPolicy(allow_private=True))

    refused("scheme_refused", lambda: client.get_activity_json(url))
    refused("scheme_refused", lambda: client.post(url, b"{}", {}))
    assert server.seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1", "2130706433"])
def test_loopback_is_refused_without_a_request(
    server: FetchServer, make_client: MakeClient, host: str
) -> None:
    self_describing(server, "/note")
    url = server.url("/note", host=host)
    client = make_client(FetchPolicy(allow_http=True))

    refused("address_refused", lambda: client.get_activity_json(url))
    refused("address_refused", lambda: client.get_bytes(url, accept="*/*"))
    refused("address_refused", lambda: client.post(url, b"{}", {}))
    assert server.seen == []


@pytest.mark.parametrize("url", ["http://user:pw@127.0.0.1/", "/relative", "http:///nohost"])
def test_malformed_urls_are_refused(make_client: MakeClient, url: str) -> None:
    refused("url_invalid", lambda: make_client().get_activity_json(url))


# --- redirects --------------------------------------------------------------------------------


def test_two_redirects_are_followed(server: FetchServer, make_client: MakeClient) -> None:
    final = self_describing(server, "/final")
    server.route("/hop2", redirect(final, 301))
    first = server.route("/hop1", redirect("/hop2", 307))

    assert make_client().get_activity_json(first)["id"] == final
    assert [seen.path for seen in server.seen] == ["/hop1", "/hop2", "/final"]


def test_a_third_redirect_is_refused(server: FetchServer, make_client: MakeClient) -> None:
    self_describing(server, "/final")
    server.route("/hop3", redirect("/final"))
    server.route("/hop2", redirect("/hop3"))
    first = server.route("/hop1", redirect("/hop2"))

    refused("too_many_redirects", lambda: make_client().get_activity_json(first))
    assert "/final" not in [seen.path for seen in server.seen]


def test_the_document_id_must_match_the_url_after_redirects(
    server: FetchServer, make_client: MakeClient
) -> None:
    self_describing(server, "/final")
    first = server.route("/hop", redirect("/final"))

    assert make_client().get_activity_json(first)["id"] == server.url("/final")


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/x"])
def test_a_redirect_to_another_scheme_is_refused(
    server: FetchServer, make_client: MakeClient, target: str
) -> None:
    first = server.route("/hop", redirect(target))

    refused("scheme_refused", lambda: make_client().get_activity_json(first))


def test_each_hop_is_signed_for_its_own_url(server: FetchServer, make_client: MakeClient) -> None:
    final = self_describing(server, "/final")
    first = server.route("/hop", redirect("/final"))
    calls: list[tuple[str, str, bytes | None]] = []

    def signer(
        method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        calls.append((method, url, body))
        assert headers["Accept"] == fetching.ACCEPT_ACTIVITY
        return {"Signature": f"signed {method} {url}"}

    make_client().get_activity_json(first, signer=signer)

    assert calls == [("GET", first, None), ("GET", final, None)]
    assert [seen.headers["signature"] for seen in server.seen] == [
        f"signed GET {first}",
        f"signed GET {final}",
    ]


# --- hostile DNS, simulated on loopback -------------------------------------------------------


@pytest.fixture
def fake_internet(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Fake names answered by scripted loopback addresses (the last answer repeats), and a
    classifier for which only 127.0.0.1 is public, so 127.0.0.2 plays an internal host."""
    answers: dict[str, list[str]] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        script = answers.get(host)
        if script is not None:
            host = script.pop(0) if len(script) > 1 else script[0]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def only_one_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return ip != ipaddress.IPv4Address("127.0.0.1")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(fetching, "is_forbidden_address", only_one_public)
    return answers


def test_a_redirect_to_an_internal_address_is_refused(
    server: FetchServer, make_client: MakeClient, fake_internet: dict[str, list[str]]
) -> None:
    fake_internet.update({"public.test": ["127.0.0.1"], "internal.test": ["127.0.0.2"]})
    with serving("127.0.0.2") as internal:
        secret = self_describing(internal, "/secret")
        server.route("/hop", redirect(internal.url("/secret", host="internal.test")))
        client = make_client(FetchPolicy(allow_http=True))

        refused("address_refused", lambda: client.get_activity_json(secret))
        hop = server.url("/hop", host="public.test")
        refused("address_refused", lambda: client.get_activity_json(hop))

        assert [seen.path for seen in server.seen] == ["/hop"]
        assert internal.seen == []


def test_the_address_checked_is_the_address_connected_to(
    make_client: MakeClient, fake_internet: dict[str, list[str]]
) -> None:
    """DNS rebinding: the name turns internal right after its first answer."""
    with twin_servers() as (public, internal):
        fake_internet["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
        for target in (public, internal):
            target.route("/note", document({"id": public.url("/note", host="rebind.test")}))
        url = public.url("/note", host="rebind.test")
        client = make_client(FetchPolicy(allow_http=True))

        assert client.get_activity_json(url)["id"] == url
        refused("address_refused", lambda: client.get_activity_json(url))
        assert len(public.seen) == 1
        assert internal.seen == []


@contextmanager
def twin_servers() -> Iterator[tuple[FetchServer, FetchServer]]:
    """Servers on one port at 127.0.0.1 and 127.0.0.2 (a rebinding name keeps its port); a
    port already taken on 127.0.0.2 is simply passed over for another."""
    for _ in range(20):
        with ExitStack() as servers:
            public = servers.enter_context(serving("127.0.0.1"))
            try:
                internal = servers.enter_context(serving("127.0.0.2", public.port))
            except OSError:
                continue
            yield public, internal
            return
    raise RuntimeError("no port is free on both 127.0.0.1 and 127.0.0.2")


# --- size and time ----------------------------------------------------------------------------


@pytest.mark.parametrize("content_length", [True, False])
def test_a_body_over_the_limit_is_refused(
    server: FetchServer, make_client: MakeClient, content_length: bool
) -> None:
    body = json.dumps({"id": server.url("/big"), "pad": "x" * 4096}).encode()
    url = server.route(
        "/big", reply(200, body, {"Content-Type": AS_JSON}, content_length=content_length)
    )
    client = make_client(FetchPolicy(allow_http=True, allow_private=True, max_bytes=4000))

    refused("too_large", lambda: client.get_activity_json(url))
    refused("too_large", lambda: client.get_bytes(url, accept="*/*"))
    assert make_client().get_bytes(url, accept="*/*", max_bytes=len(body))[0] == body


def test_a_dribbling_server_is_cut_at_the_deadline(
    server: FetchServer, make_client: MakeClient
) -> None:
    url = server.route("/slow", dribble(interval=0.2, total=100))
    client = make_client(FetchPolicy(allow_http=True, allow_private=True, deadline=1.0))

    started = time.monotonic()
    refused("timeout", lambda: client.get_activity_json(url))
    assert time.monotonic() - started < 5


# --- ids --------------------------------------------------------------------------------------


def test_a_same_origin_id_is_refetched_and_must_confirm_itself(
    server: FetchServer, make_client: MakeClient
) -> None:
    self_describing(server, "/b", name="canonical")
    alias = server.route("/a", document({"id": server.url("/b"), "name": "alias"}))

    assert make_client().get_activity_json(alias)["name"] == "canonical"
    assert [seen.path for seen in server.seen] == ["/a", "/b"]


def test_a_same_origin_id_that_does_not_confirm_itself_is_refused(
    server: FetchServer, make_client: MakeClient
) -> None:
    server.route("/b", document({"id": server.url("/c")}))
    alias = server.route("/a", document({"id": server.url("/b")}))

    refused("id_mismatch", lambda: make_client().get_activity_json(alias))


@pytest.mark.parametrize(
    "claimed", ["https://elsewhere.example/users/ada", None, 42, "http://[bad"]
)
def test_a_foreign_or_missing_id_is_refused(
    server: FetchServer, make_client: MakeClient, claimed: object
) -> None:
    url = server.route("/a", document({"id": claimed}))

    refused("id_mismatch", lambda: make_client().get_activity_json(url))
    assert len(server.seen) == 1


def test_a_document_claiming_our_own_origin_is_refused(
    server: FetchServer, make_client: MakeClient
) -> None:
    url = server.route("/a", document({"id": "https://kunveno.example/users/admin"}))
    client = make_client(local_origins=["https://kunveno.example"])

    refused("local_id", lambda: client.get_activity_json(url))
    refused("local_id", lambda: client.get_activity_json("https://kunveno.example/x"))
    assert len(server.seen) == 1


# --- statuses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(410, "gone"), (500, "http_status"), (404, "http_status")]
)
def test_error_statuses(
    server: FetchServer, make_client: MakeClient, status: int, code: str
) -> None:
    url = server.route("/x", reply(status, b"{}", {"Content-Type": AS_JSON}))

    assert refused(code, lambda: make_client().get_activity_json(url)).status == status


def test_connection_refused_is_reported(make_client: MakeClient) -> None:
    with serving() as gone:
        url = gone.url("/x")
    refused("connect_failed", lambda: make_client().get_activity_json(url))


# --- post -------------------------------------------------------------------------------------


def test_post_returns_the_status_and_retry_after_seconds(
    server: FetchServer, make_client: MakeClient
) -> None:
    url = server.route("/inbox", reply(429, b"slow down", {"Retry-After": "120"}))

    result = make_client().post(url, b'{"type":"Follow"}', {"Content-Type": AS_JSON})

    assert (result.status, result.retry_after, result.body) == (429, 120.0, b"slow down")
    assert result.headers["retry-after"] == "120"
    [request] = server.seen
    assert (request.method, request.body) == ("POST", b'{"type":"Follow"}')
    assert request.headers["content-type"] == AS_JSON


def test_post_parses_an_http_date_retry_after(server: FetchServer, make_client: MakeClient) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    url = server.route("/inbox", reply(503, headers={"Retry-After": later}))

    result = make_client().post(url, b"{}", {})

    assert result.status == 503
    assert result.retry_after is not None
    assert 290 <= result.retry_after <= 300


def test_post_does_not_follow_redirects(server: FetchServer, make_client: MakeClient) -> None:
    server.route("/elsewhere", reply(202))
    url = server.route("/inbox", redirect("/elsewhere", 307))

    result = make_client().post(url, b"{}", {})

    assert (result.status, result.headers["location"]) == (307, "/elsewhere")
    assert [seen.path for seen in server.seen] == ["/inbox"]


def test_post_reads_only_a_bounded_answer(server: FetchServer, make_client: MakeClient) -> None:
    url = server.route("/inbox", reply(400, b"e" * 200_000, content_length=False))

    assert len(make_client().post(url, b"{}", {}).body) == 64 * 1024


def test_post_is_signed_over_its_body(server: FetchServer, make_client: MakeClient) -> None:
    url = server.route("/inbox", reply(202))
    calls: list[tuple[str, str, bytes | None]] = []

    def signer(
        method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        calls.append((method, url, body))
        return {"Digest": "SHA-256=test", "Signature": "sig"}

    assert make_client().post(url, b"payload", {}, signer=signer).status == 202
    assert calls == [("POST", url, b"payload")]
    [request] = server.seen
    assert (request.headers["digest"], request.headers["signature"]) == ("SHA-256=test", "sig")


def test_get_bytes_returns_the_body_and_its_type(
    server: FetchServer, make_client: MakeClient
) -> None:
    url = server.route("/img", reply(200, b"\x89PNG", {"Content-Type": "image/png"}))

    assert make_client().get_bytes(url, accept="image/*") == (b"\x89PNG", "image/png")
    assert server.seen[0].headers["accept"] == "image/*"
