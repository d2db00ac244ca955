"""The composition root: builds every part of a node from its settings, nothing at import.

Tests substitute parts by passing overrides (a fixed clock, a cheap password hasher), never by
patching.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from kunveno.adapters.passwords import Argon2PasswordHasher
from kunveno.adapters.persistence.database import Database, parse_database_url
from kunveno.application.accounts import AccountService
from kunveno.application.communities import CommunityService
from kunveno.application.gatherings import GatheringService
from kunveno.application.log import CommandBus, EventLog
from kunveno.application.ports import Clock, PasswordHasher, SystemClock
from kunveno.application.posts import PostService
from kunveno.projections.queries import Queries
from kunveno.projections.runner import ProjectionRunner
from kunveno.projections.store import ReadStore
from kunveno.projections.views import ALL_VIEWS
from kunveno.settings import Settings


@dataclass
class Container:
    settings: Settings
    database: Database
    clock: Clock
    log: EventLog
    read_store: ReadStore
    projections: ProjectionRunner
    queries: Queries
    accounts: AccountService
    communities: CommunityService
    gatherings: GatheringService
    posts: PostService
    commands: CommandBus

    def read_your_writes(self, position: int) -> None:
        """Wait, bounded, until the read models include ``position`` (see README)."""
        if position:
            self.projections.wait(position, self.settings.read_your_writes_timeout)

    def fresh_reads(self) -> None:
        """Before a read: wait, bounded, until the read models include everything logged now.

        So a writer's next read sees its write, whichever process served the write, and the
        write itself need not wait for the read models unless it answers from them.
        """
        self.read_your_writes(self.projections.head())

    def close(self) -> None:
        self.commands.close()
        self.projections.stop()
        self.read_store.close()
        self.log.close()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
) -> Container:
    database = parse_database_url(settings.resolved_database_url)
    with database.schema_lock():
        log = EventLog(env=database.event_store_env)
        read_store = database.open_read_store()
        projections = ProjectionRunner(log, read_store, [view() for view in ALL_VIEWS])
        projections.setup()
    clock = clock or SystemClock()
    hasher = hasher or Argon2PasswordHasher(
        settings.password_time_cost, settings.password_memory_kib
    )
    commands = CommandBus(log, after_save=projections.poke)
    communities = CommunityService(log, commands, clock)
    return Container(
        settings=settings,
        database=database,
        clock=clock,
        log=log,
        read_store=read_store,
        projections=projections,
        queries=Queries(read_store),
        accounts=AccountService(
            log, commands, clock, hasher, timedelta(days=settings.token_ttl_days)
        ),
        communities=communities,
        gatherings=GatheringService(log, commands, clock, communities.load),
        posts=PostService(log, commands, clock, communities.load),
        commands=commands,
    )
