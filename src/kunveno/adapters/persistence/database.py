"""One URL chooses the store: ``sqlite:///file``, ``postgresql://...`` or ``memory://``.

The event log (the library's recorder) and the read models live in the same database; the
read models get their own connections. In memory, the log is the library's POPO recorder and
the read models an in-memory SQLite database: for unit tests only.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from kunveno.adapters.persistence.postgres import PostgresReadStore, schema_lock
from kunveno.adapters.persistence.sqlite import SqliteReadStore
from kunveno.adapters.persistence.sqlite import schema_lock as sqlite_schema_lock
from kunveno.projections.store import ReadStore


class DatabaseUrlError(ValueError):
    pass


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite", "postgres" or "memory"
    event_store_env: dict[str, str]
    url: str

    def open_read_store(self) -> ReadStore:
        if self.kind == "postgres":
            return PostgresReadStore(self.url)
        if self.kind == "sqlite":
            return SqliteReadStore(self.event_store_env["SQLITE_DBNAME"])
        return SqliteReadStore(":memory:")

    def schema_lock(self) -> AbstractContextManager[None]:
        """Held while a node sets up its tables, so nodes starting together take turns."""
        if self.kind == "postgres":
            return schema_lock(self.url)
        if self.kind == "sqlite":
            return sqlite_schema_lock(self.event_store_env["SQLITE_DBNAME"])
        return nullcontext()


def parse_database_url(url: str) -> Database:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return Database("memory", {"PERSISTENCE_MODULE": "eventsourcing.popo"}, url)
    if scheme == "sqlite":
        path = url.removeprefix("sqlite://")
        if not path or path == "/":
            raise DatabaseUrlError("a sqlite URL names a file: sqlite:///path/to/kunveno.sqlite3")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Database(
            "sqlite",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "10",
            },
            url,
        )
    if scheme in ("postgresql", "postgres"):
        return Database("postgres", _postgres_env(url), url)
    raise DatabaseUrlError(f"unsupported database URL scheme {scheme!r}: use sqlite or postgresql")


def _postgres_env(url: str) -> dict[str, str]:
    parts = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "localhost"),
        "POSTGRES_PORT": str(parts.get("port") or 5432),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "12",
        # A stuck writer must not block every other one forever (EVENTSOURCING.md §3).
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "APPLICATION_RECORDER_TOPIC": "kunveno.adapters.persistence.one_trip:OneTripRecorder",
    }
