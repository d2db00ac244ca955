"""Moving between two nodes on loopback: ada on A exports, imports on B as ada2 (once A's ada
names ada2 as an alias), B asks A again for her community and her gathering, ada moves, and
her follower on C follows ada2. Bad zips are refused before anything is imported."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Headers, found, join, register, schedule, sign_up
from federation_support import ServedNode, eventually, served_node, statuses

from kunveno.adapters.portability.importer import MAX_MEMBER_BYTES

ZIP = {"Content-Type": "application/zip"}


@pytest.fixture
def three(database_url: str, tmp_path: Path) -> Iterator[tuple[ServedNode, ...]]:
    with (
        served_node(database_url) as a,
        served_node(f"sqlite:///{tmp_path / 'b.sqlite3'}") as b,
        served_node(f"sqlite:///{tmp_path / 'c.sqlite3'}") as c,
    ):
        yield a, b, c


def handle(node: ServedNode, name: str) -> str:
    return f"{name}@{node.url.removeprefix('http://')}"


def import_zip(node: ServedNode, body: bytes, headers: Headers) -> tuple[int, dict[str, Any]]:
    answer = node.api.post("/api/v1/me/import", content=body, headers=headers | ZIP)
    return answer.status_code, answer.json()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_ada_moves_from_a_to_b_with_her_community_gathering_and_follower(
    three: tuple[ServedNode, ...],
) -> None:
    a, b, c = three
    olga, ada = sign_up(a.api, "olga"), sign_up(a.api, "ada")
    ada2, cat = sign_up(b.api, "ada2"), sign_up(c.api, "cat")
    ada_url, ada2_url = f"{a.url}/users/ada", f"{b.url}/users/ada2"
    community_url = f"{a.url}/communities/menders"

    found(a.api, olga, "menders")
    assert join(a.api, "menders", ada) == "member"
    created = schedule(a.api, olga, "menders", capacity=5)
    register(a.api, created["id"], ada)
    called_off = schedule(a.api, olga, "menders", capacity=5)
    register(a.api, called_off["id"], ada)
    cancelled = a.api.post(f"/api/v1/gatherings/{called_off['id']}/cancel", headers=olga)
    assert cancelled.status_code == 200, cancelled.text  # cancelled: not asked for on B
    posted = a.api.post("/api/v1/communities/menders/posts", json={"content": "hi"}, headers=ada)
    assert posted.status_code == 201, posted.text
    followed = c.api.post("/api/v1/me/following", json={"address": handle(a, "ada")}, headers=cat)
    assert followed.status_code == 201, followed.text
    eventually(lambda: statuses(c, "/api/v1/me/following", cat).get(ada_url) == "accepted")

    exported = a.api.get("/api/v1/me/export", headers=ada)
    assert exported.status_code == 200, exported.text
    archive = exported.content

    # Without proof that ada@A is ada2's, nothing is imported.
    status, refused = import_zip(b, archive, ada2)
    assert (status, refused["error"]) == (403, "not_yours"), refused
    assert statuses(b, "/api/v1/me/following", ada2) == {}
    assert statuses(b, "/api/v1/me/remote-registrations", ada2) == {}

    aliased = a.api.put("/api/v1/me/aliases", json={"aliases": [handle(b, "ada2")]}, headers=ada)
    assert aliased.status_code == 200, aliased.text
    status, answer = import_zip(b, archive, ada2)
    assert status == 200, answer
    assert answer["imported"] == {"follows": 1, "registrations": 1, "posts": 1}
    assert answer["aliases"] == [ada_url]
    assert called_off["url"] not in answer["skipped"]  # left out when read
    me = b.api.get("/api/v1/me", headers=ada2).json()
    assert me["display_name"] == "ada"
    # Her post came along as an imported post of hers, with its original id and date.
    [brought] = b.api.get("/api/v1/me/imported-posts", headers=ada2).json()
    assert (brought["original_url"], brought["content"]) == (posted.json()["url"], "hi")
    assert brought["published_at"] is not None
    assert brought["published_at"][:16] == posted.json()["published_at"][:16]
    assert brought["context"] == community_url

    # A accepts both: ada2@B follows the community and takes part in the gathering.
    eventually(lambda: statuses(b, "/api/v1/me/following", ada2).get(community_url) == "accepted")
    eventually(
        lambda: (
            statuses(b, "/api/v1/me/remote-registrations", ada2).get(created["url"]) == "accepted"
        )
    )

    def participants() -> list[str | None]:
        answer = a.api.get(f"/api/v1/gatherings/{created['id']}/registrations", headers=olga)
        assert answer.status_code == 200, answer.text
        return [p["actor_url"] for p in answer.json()["participants"]]

    eventually(lambda: ada2_url in participants())

    # An import twice: the same answer, nothing asked twice.
    status, again = import_zip(b, archive, ada2)
    assert (status, again) == (200, answer)
    following = b.api.get("/api/v1/me/following", headers=ada2).json()
    assert [f["target"] for f in following] == [community_url]
    joins = b.api.get("/api/v1/me/remote-registrations", headers=ada2).json()
    assert [j["target"] for j in joins] == [created["url"]]
    assert participants().count(ada2_url) == 1
    assert len(b.api.get("/api/v1/me/imported-posts", headers=ada2).json()) == 1

    # ada moves: her follower on C follows ada2 on B.
    moved = a.api.post("/api/v1/me/move", json={"address": handle(b, "ada2")}, headers=ada)
    assert moved.status_code == 202, moved.text
    eventually(lambda: statuses(c, "/api/v1/me/following", cat).get(ada2_url) == "accepted")
    assert statuses(c, "/api/v1/me/following", cat)[ada_url] == "withdrawn"


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[ServedNode]:
    with served_node(f"sqlite:///{tmp_path / 'b.sqlite3'}") as served:
        yield served


def test_bad_archives_are_refused(lone: ServedNode) -> None:
    ada2 = sign_up(lone.api, "ada2")
    actor = b'{"id": "http://127.0.0.1:9/users/ada", "type": "Person"}'

    status, answer = import_zip(lone, b"PK\x03\x04 not really a zip", ada2)
    assert (status, answer["error"]) == (400, "corrupt_zip"), answer

    status, answer = import_zip(lone, zipped({"notes.txt": b"hello"}), ada2)
    assert (status, answer["error"]) == (400, "not_an_export"), answer

    evil = zipped({"actor.json": actor, "../evil": b"x"})
    status, answer = import_zip(lone, evil, ada2)
    assert (status, answer["error"]) == (400, "unsafe_path"), answer
    absolute = zipped({"actor.json": actor, "/etc/evil": b"x"})
    assert import_zip(lone, absolute, ada2)[0] == 400

    bomb = zipped({"actor.json": b" " * (MAX_MEMBER_BYTES + 1)})
    assert len(bomb) < 100_000  # small on the wire, large once inflated
    status, answer = import_zip(lone, bomb, ada2)
    assert (status, answer["error"]) == (413, "too_large"), answer

    # A bomb that lies about its size is still stopped by what it really inflates to.
    liar = bytearray(bomb)
    info = zipfile.ZipFile(io.BytesIO(bomb)).getinfo("actor.json")
    small = (1000).to_bytes(4, "little")
    liar[info.header_offset + 22 : info.header_offset + 26] = small  # local header
    central = bytes(liar).rindex(b"PK\x01\x02")
    liar[central + 24 : central + 28] = small  # central directory
    status, answer = import_zip(lone, bytes(liar), ada2)
    assert status in (400, 413), answer

    for shape in (b"[1, 2]", b'{"id": 3}', b"{not json", b'{"id": "file:///etc/passwd"}'):
        status, answer = import_zip(lone, zipped({"actor.json": shape}), ada2)
        assert (status, answer["error"]) == (422, "invalid_export"), (shape, answer)
    wrong = zipped({"actor.json": actor, "following.json": b'{"following": "everyone"}'})
    status, answer = import_zip(lone, wrong, ada2)
    assert (status, answer["error"]) == (422, "invalid_export"), answer

    # Well formed, but its actor cannot be fetched: not proven, nothing imported.
    status, answer = import_zip(lone, zipped({"actor.json": actor}), ada2)
    assert (status, answer["error"]) == (403, "not_yours"), answer
    assert (
        lone.api.post("/api/v1/me/import", content=zipped({"actor.json": actor})).status_code == 401
    )
