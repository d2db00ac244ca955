"""The composition root: builds every part of a node from its settings, nothing at import.

Tests substitute parts by passing overrides (a fixed clock, a cheap password hasher), never by
patching.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from kunveno import __version__
from kunveno.adapters.activitypub.actors import RemoteActors
from kunveno.adapters.activitypub.blocks import Blocks
from kunveno.adapters.activitypub.delivery import DeliveryWorker
from kunveno.adapters.activitypub.documents import Urls
from kunveno.adapters.activitypub.fetching import FetchPolicy, SafeHttp, Signer
from kunveno.adapters.activitypub.inbox import InboxReceiver
from kunveno.adapters.activitypub.keys import KeyStore
from kunveno.adapters.activitypub.outbox import Outbox, OutboxProjection
from kunveno.adapters.activitypub.processor import InboxProcessor
from kunveno.adapters.activitypub.resolver import Resolver
from kunveno.adapters.activitypub.signatures import sign_request
from kunveno.adapters.agents.feed import Feed
from kunveno.adapters.agents.hub import StreamHub
from kunveno.adapters.agents.webhooks import WebhookWorker
from kunveno.adapters.passwords import Argon2PasswordHasher
from kunveno.adapters.persistence.database import Database, parse_database_url
from kunveno.adapters.persistence.pii import PIITranscoding, SubjectKeys
from kunveno.adapters.privacy import PrivacyJobs
from kunveno.application.accounts import AccountService
from kunveno.application.agents import AgentService
from kunveno.application.communities import CommunityService
from kunveno.application.federation import FederationService
from kunveno.application.gatherings import GatheringService
from kunveno.application.log import CommandBus, EventLog
from kunveno.application.outgoing import OutgoingService
from kunveno.application.ports import Clock, PasswordHasher, SystemClock
from kunveno.application.posts import PostService
from kunveno.builtin_agents.runner import BuiltinAgents
from kunveno.domain.blocklist import Blocklist
from kunveno.projections.queries import Queries
from kunveno.projections.runner import ProjectionRunner
from kunveno.projections.store import ReadStore
from kunveno.projections.views import ALL_VIEWS
from kunveno.settings import Settings

BLOCK_EVENTS: set[type] = {Blocklist.Blocked, Blocklist.Unblocked}


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
    agents: AgentService
    commands: CommandBus
    urls: Urls
    keys: KeyStore
    federation: FederationService
    outgoing: OutgoingService
    http: SafeHttp
    actors: RemoteActors
    blocks: Blocks
    subject_keys: SubjectKeys
    privacy: PrivacyJobs
    resolver: Resolver
    inbox: InboxReceiver
    inbox_processor: ProjectionRunner
    outbox: Outbox
    outbox_runner: ProjectionRunner
    deliveries: DeliveryWorker
    stream_hub: StreamHub
    webhooks: WebhookWorker
    builtin_agents: BuiltinAgents

    def start_background(self) -> None:
        """Read models, inbox processing, outbox and deliveries: what a serving node runs."""
        self.projections.start()
        self.inbox_processor.start()
        self.outbox_runner.start()
        self.deliveries.start()
        self.webhooks.start()
        self.privacy.start()
        if self.settings.builtin_agents:
            self.builtin_agents.start()

    def stop_background(self) -> None:
        self.builtin_agents.stop()
        self.privacy.stop()
        self.webhooks.stop()
        self.deliveries.stop()
        self.outbox_runner.stop()
        self.inbox_processor.stop()
        self.projections.stop()

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
        self.stream_hub.close()
        self.stop_background()
        self.builtin_agents.close()
        self.commands.close()
        self.http.close()
        self.read_store.close()
        self.log.close()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
) -> Container:
    database = parse_database_url(settings.resolved_database_url)
    clock = clock or SystemClock()
    urls = Urls(settings.base_url)
    with database.schema_lock():
        read_store = database.open_read_store()
        subject_keys = SubjectKeys(read_store)
        subject_keys.setup()
        log = EventLog(env=database.event_store_env, pii=PIITranscoding(subject_keys))
        projections = ProjectionRunner(log, read_store, [view() for view in ALL_VIEWS])
        projections.setup()
        keys = KeyStore(read_store)
        keys.setup()
        builtin_agents = BuiltinAgents(
            read_store,
            settings.builtin_agents_api_url or settings.base_url,
            clock.now,
            reminder_seconds=settings.reminder_interval_seconds,
            user_agent=f"Kunveno/{__version__} built-in agents",
        )
        builtin_agents.setup()
    queries = Queries(read_store)
    hasher = hasher or Argon2PasswordHasher(
        settings.password_time_cost, settings.password_memory_kib
    )
    http = SafeHttp(
        FetchPolicy(
            allow_http=settings.federation_allow_http,
            allow_private=settings.federation_allow_private,
        ),
        user_agent=f"Kunveno/{__version__} (+{urls.base}/)",
        local_origins=[urls.base],
    )
    actors = RemoteActors(read_store, http, lambda: instance_signer(urls, keys, clock), clock)
    outbox_runner = ProjectionRunner(
        log,
        read_store,
        [
            OutboxProjection(
                urls,
                queries,
                lambda aggregate_id, version: log.repository.get(aggregate_id, version=version),
                lambda position: projections.wait(position, settings.read_your_writes_timeout),
            )
        ],
    )
    blocks = Blocks(queries)
    # The blocklist is cached in memory: read it again once a block or unblock is folded.
    projections.after_fold = lambda kinds: blocks.forget() if kinds & BLOCK_EVENTS else None
    deliveries = DeliveryWorker(read_store, http, keys, clock, blocks=blocks)
    outbox_runner.on_advance = deliveries.poke
    feed = Feed(read_store, log, queries)
    stream_hub = StreamHub(feed, read_store)
    webhooks = WebhookWorker(read_store, feed, http, log, clock)

    def trail_advanced(position: int) -> None:
        stream_hub.advanced(position)
        webhooks.poke(position)

    projections.on_advance = trail_advanced
    commands = CommandBus(log)
    communities = CommunityService(log, commands, clock)
    accounts = AccountService(
        log,
        commands,
        clock,
        hasher,
        timedelta(days=settings.token_ttl_days),
        shredder=subject_keys,
    )
    federation = FederationService(log, commands, clock)
    outgoing = OutgoingService(
        log, commands, clock, lambda stream, version: urls.activity(f"{stream}-{version}")
    )
    processor = InboxProcessor(
        urls,
        actors,
        federation,
        communities,
        accounts,
        queries,
        outgoing,
        shred=subject_keys.erase,
    )
    inbox_processor = ProjectionRunner(log, read_store, [processor])

    def after_save(position: int) -> None:
        projections.poke(position)
        outbox_runner.poke(position)
        inbox_processor.poke(position)

    commands.after_save = after_save
    with database.schema_lock():
        actors.setup()
        deliveries.setup()
        webhooks.setup()
        outbox_runner.setup()
        inbox_processor.setup()
    return Container(
        settings=settings,
        database=database,
        clock=clock,
        log=log,
        read_store=read_store,
        projections=projections,
        queries=queries,
        accounts=accounts,
        communities=communities,
        gatherings=GatheringService(log, commands, clock, communities.load),
        posts=PostService(log, commands, clock, communities.load),
        agents=AgentService(log, commands, clock, communities.load),
        commands=commands,
        urls=urls,
        keys=keys,
        federation=federation,
        outgoing=outgoing,
        http=http,
        actors=actors,
        blocks=blocks,
        subject_keys=subject_keys,
        privacy=PrivacyJobs(read_store, subject_keys, clock),
        resolver=Resolver(
            http,
            actors,
            instance_signer(urls, keys, clock),
            allow_http=settings.federation_allow_http,
        ),
        inbox=InboxReceiver(actors, federation, blocks, clock, on_verified=deliveries.revive),
        inbox_processor=inbox_processor,
        outbox=Outbox(read_store),
        outbox_runner=outbox_runner,
        deliveries=deliveries,
        stream_hub=stream_hub,
        webhooks=webhooks,
        builtin_agents=builtin_agents,
    )


def instance_signer(urls: Urls, keys: KeyStore, clock: Clock) -> Signer:
    """Signs our fetches as the instance actor (authorized-fetch peers refuse unsigned ones)."""
    key_id = f"{urls.instance}#main-key"

    def sign(method: str, url: str, body: bytes | None, _: dict[str, str]) -> dict[str, str]:
        return sign_request(
            method=method,
            url=url,
            body=body,
            key_id=key_id,
            private_key=keys.key_pair("instance").private_key,
            now=clock.now(),
        )

    return sign
