"""Erasure tested as an auditor would: after a person is erased, their email, display name and
post text are found nowhere in the raw database (the SQLite file and its WAL; every
PostgreSQL table's rows and data files), while the log replays, counts stay right and every
projection still rebuilds; peers are told; the token stops working; the username stays taken."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from api_helpers import assert_error, found, gathering, join, register, schedule, sign_up
from federation_support import ServedNode, served_node
from peer import Peer
from psycopg import sql

EMAIL = "ada.quill@example.org"
NAME = "Ada Zygmunt-Quill"
WORDS = "the secret recipe is marmalade-xyzzy"
SECRETS = (EMAIL.encode(), NAME.encode(), WORDS.encode())


@pytest.fixture
def node(database_url: str) -> Iterator[ServedNode]:
    with served_node(database_url) as served:
        yield served


def raw_sqlite(node: ServedNode) -> bytes:
    path = Path(node.container.database.event_store_env["SQLITE_DBNAME"])
    files = [path, *path.parent.glob(path.name + "-*")]
    return b"".join(f.read_bytes() for f in files if f.is_file())


def raw_postgres(node: ServedNode) -> bytes:
    """Every row of every table as text, and every table's data files as bytes."""
    env = node.container.database.event_store_env
    query = parse_qs(urlsplit(node.container.settings.resolved_database_url).query)
    conninfo = psycopg.conninfo.make_conninfo(
        dbname=env["POSTGRES_DBNAME"],
        user=env.get("POSTGRES_USER", "postgres"),
        host=query["host"][0],
        port=query["port"][0],
    )
    found_bytes = bytearray()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        data_dir = conn.execute("SHOW data_directory").fetchone()
        assert data_dir is not None
        conn.execute("CHECKPOINT")  # what is in shared buffers reaches the files
        for table in tables:
            for row in conn.execute(
                sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
            ):
                found_bytes += str(row[0]).encode()
            relpath = conn.execute("SELECT pg_relation_filepath(%s)", (table,)).fetchone()
            assert relpath is not None
            for segment in Path(data_dir[0]).glob(relpath[0] + "*"):
                found_bytes += segment.read_bytes()
    return bytes(found_bytes)


def everything(node: ServedNode) -> bytes:
    if node.container.database.kind == "sqlite":
        return raw_sqlite(node)
    return raw_postgres(node)


def test_an_erased_person_is_nowhere_in_the_raw_database(node: ServedNode) -> None:
    api = node.api
    created = api.post(
        "/api/v1/accounts",
        json={"username": "ada", "password": "s3cret-pass", "display_name": NAME, "email": EMAIL},
    )
    assert created.status_code == 201, created.text
    ada = {
        "Authorization": "Bearer "
        + api.post("/api/v1/sessions", json={"username": "ada", "password": "s3cret-pass"}).json()[
            "token"
        ]
    }
    olga = sign_up(api, "olga")
    found(api, olga, "menders")
    join(api, "menders", ada)
    posted = api.post("/api/v1/communities/menders/posts", json={"content": WORDS}, headers=ada)
    assert posted.status_code == 201, posted.text
    reply = api.post(
        "/api/v1/communities/menders/posts",
        json={"content": "olga answers", "in_reply_to": posted.json()["id"]},
        headers=olga,
    )
    assert reply.status_code == 201
    event = schedule(api, olga, "menders", capacity=5)
    register(api, event["id"], ada)
    with Peer() as peer:  # someone elsewhere follows ada: they must hear she is gone
        peer.follow(f"{node.url}/users/ada", f"{node.url}/inbox")
        peer.wait_for("Accept", actor=f"{node.url}/users/ada")
        assert all(secret in everything(node) for secret in (NAME.encode(), WORDS.encode()))

        erased = api.delete("/api/v1/me", headers=ada)
        assert erased.status_code == 204, erased.text
        deleted = peer.wait_for("Delete", actor=f"{node.url}/users/ada")
        assert deleted["object"] == f"{node.url}/users/ada"

    assert_error(api.get("/api/v1/me", headers=ada), 401, "unauthenticated")
    raw = everything(node)
    for secret in SECRETS:
        assert secret not in raw, secret

    # Counts stay right: her registration, her membership and her post still count.
    assert gathering(api, event["id"], olga)["registration_count"] == 1
    assert api.get("/api/v1/communities/menders").json()["member_count"] == 2
    posts = api.get("/api/v1/communities/menders/posts", headers=olga).json()
    assert sorted(p["content"] for p in posts) == ["", "olga answers"]
    # The log replays and every projection rebuilds, still without her.
    node.container.projections.rebuild()
    for secret in SECRETS:
        assert secret not in everything(node), secret
    assert gathering(api, event["id"], olga)["registration_count"] == 1
    # Her username stays taken for good (no one inherits her identity).
    again = api.post("/api/v1/accounts", json={"username": "ada", "password": "s3cret-pass"})
    assert_error(again, 409, "name_taken")
    assert api.delete("/api/v1/me", headers=ada).status_code == 401
