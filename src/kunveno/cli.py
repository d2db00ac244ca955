"""The ``kunveno`` command: serve, set up the database, manage projections and accounts, audit.

Exit codes: 0 success, 2 bad usage (argparse), 1 failure with a one-line reason.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from uuid import UUID

from kunveno import __version__
from kunveno.bootstrap import Container, build
from kunveno.domain.actor import Actor
from kunveno.domain.blocklist import normalise_entry
from kunveno.domain.errors import DomainError, NotFound
from kunveno.projections.trail import AuditEntry, Trail, audit_actor, audit_window
from kunveno.settings import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from kunveno.adapters.http.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    if not settings.base_url_given:
        # No public URL configured: ids must name where this server really listens.
        settings = settings.model_copy(update={"base_url": f"http://{host}:{port}"})
    node = build(settings)
    print(f"Kunveno {__version__} serving {settings.base_url} on {host}:{port}", file=sys.stderr)
    try:
        # Open event streams (agents watch for hours) must not hold a stop forever: after
        # a few seconds uvicorn closes what is still open.
        uvicorn.run(
            create_app(node),
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
    finally:
        node.close()
    return 0


GRACEFUL_SECONDS = 5


def _with_node(action: Callable[[Container, argparse.Namespace], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        node = build(settings)
        try:
            return action(node, args)
        finally:
            node.close()

    return run


def _db_init(node: Container, _: argparse.Namespace) -> int:
    print(f"database ready: {node.database.kind} ({_redacted(node.database.url)})")
    return 0


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}"
    return url


class _Progress:
    """One line per projection, rewritten in place at most ten times a second."""

    def __init__(self) -> None:
        self._last = 0.0
        self._shown: tuple[int, int] | None = None

    def __call__(self, name: str, position: int, head: int) -> None:
        now = time.monotonic()
        if (position, head) == self._shown or (now - self._last < 0.1 and position < head):
            return  # the runner reports the end twice: after the last page, and on finding none
        self._last, self._shown = now, (position, head)
        percent = 100 if head == 0 else position * 100 // head
        print(f"\r{name:<14} {position:>10}/{head} events ({percent}%)", end="", file=sys.stderr)
        if position >= head:
            print(file=sys.stderr)


def _projections_status(node: Container, _: argparse.Namespace) -> int:
    print(f"{'projection':<14} {'position':>10} {'head':>10} {'lag':>8}")
    for status in node.projections.status():
        print(f"{status.name:<14} {status.position:>10} {status.head:>10} {status.lag:>8}")
    return 0


def _federation_status(node: Container, _: argparse.Namespace) -> int:
    print(f"{'worker':<14} {'position':>10} {'head':>10} {'lag':>8}")
    for runner in (node.inbox_processor, node.outbox_runner):
        for status in runner.status():
            print(f"{status.name:<14} {status.position:>10} {status.head:>10} {status.lag:>8}")
    counts = node.deliveries.counts()
    print("deliveries: " + (", ".join(f"{n} {state}" for state, n in counts.items()) or "none"))
    return 0


def _projections_rebuild(node: Container, args: argparse.Namespace) -> int:
    names = [args.name] if args.name else None
    if args.name and args.name not in node.projections.names:
        known = ", ".join(node.projections.names)
        print(f"error: unknown projection {args.name!r} (known: {known})", file=sys.stderr)
        return 1
    started = time.monotonic()
    node.projections.rebuild(names, progress=_Progress())
    print(f"rebuilt in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


def _create_user(node: Container, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    outcome = node.accounts.register(args.username, password, args.display_name, args.email)
    node.read_your_writes(outcome.position)  # no server may be running to fold it
    print(f"created {args.username} ({outcome.value})")
    return 0


def _block(node: Container, args: argparse.Namespace) -> int:
    value = normalise_entry(args.kind, args.value)
    outcome = node.federation.block(args.kind, value, args.reason or "", Actor.system())
    node.read_your_writes(outcome.position)
    print(f"blocked {args.kind} {value}" if outcome.value else "already blocked")
    return 0


def _unblock(node: Container, args: argparse.Namespace) -> int:
    value = normalise_entry(args.kind, args.value)
    outcome = node.federation.unblock(args.kind, value, Actor.system())
    node.read_your_writes(outcome.position)
    print(f"unblocked {args.kind} {value}" if outcome.value else "was not blocked")
    return 0


def _list_blocks(node: Container, _: argparse.Namespace) -> int:
    node.read_your_writes(node.projections.head())
    for row in node.queries.blocks():
        print(f"{row['kind']:<7} {row['value']}  {row['reason']}")
    return 0


def _erase(node: Container, args: argparse.Namespace) -> int:
    from kunveno.adapters.erasure import erase_person

    if not args.yes:
        print("error: erasure cannot be undone: add --yes to erase", file=sys.stderr)
        return 2
    person_id = node.accounts.person_id_for(args.username)
    erased = erase_person(node, person_id, Actor.system())
    print(f"erased {args.username}" if erased else f"{args.username} was erased already")
    return 0


def _list_reports(node: Container, _: argparse.Namespace) -> int:
    node.read_your_writes(node.projections.head())
    for row in node.queries.reports():
        objects = ", ".join(json.loads(row["objects"]))
        print(f"{row['received_at']}  from {row['reporter']}\n  about: {objects}")
        if row["comment"]:
            print(f"  says: {row['comment']!r}")
    return 0


def _export(node: Container, args: argparse.Namespace) -> int:
    from kunveno.adapters.portability.export import write_export

    try:
        person_id = node.accounts.person_id_for(args.username)
    except NotFound:
        raise NotFound(f"no such person: {args.username!r}") from None
    if any(status.lag for status in node.projections.status()):
        node.projections.catch_up(_Progress())  # no server may be running to fold the log
    output = Path(args.output)
    partial = output.with_name(f".{output.name}.part")
    try:
        with partial.open("wb") as sink:
            events = write_export(node, person_id, sink, _Progress())
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    print(f"exported {events} events of {args.username} to {output}")
    return 0


def _audit(node: Container, args: argparse.Namespace) -> int:
    actor = None if args.actor is None else audit_actor(args.actor)
    since, until = audit_window(args.since, args.until)
    if any(status.lag for status in node.projections.status()):
        node.projections.catch_up(_Progress())  # no server may be running to fold the log
    community = node.queries.community(args.slug.lower())
    if community is None:
        raise NotFound(f"no such community: {args.slug!r}")
    pages = _trail_pages(Trail(node.read_store), UUID(community["id"]), actor, since, until)
    try:
        shown = _print_trail(pages, as_json=args.json)
    except BrokenPipeError:  # ``kunveno audit ... | head``: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(f"{shown} events", file=sys.stderr)
    return 0


def _trail_pages(
    trail: Trail,
    community_id: UUID,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Iterator[list[AuditEntry]]:
    after = 0
    while True:
        page = trail.entries(
            community_id, actor=actor, since=since, until=until, after=after, limit=1000
        )
        yield page
        if len(page) < 1000:
            return
        after = page[-1].position


def _print_trail(pages: Iterator[list[AuditEntry]], *, as_json: bool) -> int:
    shown = 0
    if not as_json:
        print(_AUDIT_ROW.format("position", "at", "actor", "action", "object", "scope", "detail"))
    for page in pages:
        for entry in page:
            print(json.dumps(entry.as_json()) if as_json else _audit_row(entry))
        shown += len(page)
    sys.stdout.flush()
    return shown


_AUDIT_ROW = "{:>9}  {:<20}  {:<24}  {:<30}  {:<36}  {:<18}  {}"


def _audit_row(entry: AuditEntry) -> str:
    detail = "" if entry.detail is None else f"refused: {entry.detail}"
    if entry.request is not None:
        detail += f" ({entry.request})"
    return _AUDIT_ROW.format(
        entry.position,
        entry.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        entry.actor_label,
        entry.action,
        entry.object_id,
        entry.scope or "-",
        detail,
    ).rstrip()


def _seed_demo(node: Container, _: argparse.Namespace) -> int:
    from kunveno.demo import seed_demo

    password = seed_demo(node)
    if password is None:
        print("the store is not empty: no demo seeded")
    else:
        print(f"seeded the demo community 'neighbours'; sign in as demo / {password}")
    return 0


def _command(
    group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, purpose: str
) -> argparse.ArgumentParser:
    """A command whose own ``--help`` states its purpose, as its group's list of commands does."""
    return group.add_parser(name, help=purpose, description=purpose)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kunveno",
        description="Kunveno: a federated, event-sourced server for communities and gatherings. "
        "Configured by KUNVENO_* environment variables (see the README).",
    )
    top.add_argument("--version", action="version", version=f"kunveno {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(commands, "serve", "serve the web API (and run projections)")
    serve.add_argument("--host", help="address to listen on (default KUNVENO_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default KUNVENO_PORT or 8000)")
    serve.set_defaults(run=_serve)

    db = _command(commands, "db", "set up the database").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    _command(db, "init", "create the event store and read-model tables").set_defaults(
        run=_with_node(_db_init)
    )

    projections = _command(commands, "projections", "inspect and rebuild read models")
    actions = projections.add_subparsers(
        dest="projections_command", required=True, metavar="ACTION"
    )
    _command(actions, "status", "each projection's position and lag").set_defaults(
        run=_with_node(_projections_status)
    )
    rebuild = _command(actions, "rebuild", "derive read models again from the log")
    rebuild.add_argument("name", nargs="?", help="one projection (default: all)")
    rebuild.set_defaults(run=_with_node(_projections_rebuild))

    federation = _command(commands, "federation", "ActivityPub workers and deliveries")
    federation_actions = federation.add_subparsers(
        dest="federation_command", required=True, metavar="ACTION"
    )
    _command(
        federation_actions, "status", "inbox and outbox positions, and deliveries by state"
    ).set_defaults(run=_with_node(_federation_status))

    admin = _command(commands, "admin", "administration").add_subparsers(
        dest="admin_command", required=True, metavar="ACTION"
    )
    create_user = _command(admin, "create-user", "create a local account")
    create_user.add_argument("username")
    create_user.add_argument("--display-name")
    create_user.add_argument("--email")
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.set_defaults(run=_with_node(_create_user))
    for action, purpose, run in (
        ("block", "drop a domain's or an actor's activities and stop delivering to it", _block),
        ("unblock", "lift a block", _unblock),
    ):
        command = _command(admin, action, purpose)
        command.add_argument("kind", choices=("domain", "actor"))
        command.add_argument("value", help="a domain (example.org) or an actor URL")
        if action == "block":
            command.add_argument("--reason", help="why, for the record")
        command.set_defaults(run=_with_node(run))
    erase = _command(admin, "erase", "erase a person: their personal data, for good")
    erase.add_argument("username")
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(run=_with_node(_erase))
    _command(admin, "blocks", "list the blocked domains and actors").set_defaults(
        run=_with_node(_list_blocks)
    )
    _command(admin, "reports", "list reports (Flag) received from other servers").set_defaults(
        run=_with_node(_list_reports)
    )

    export = _command(commands, "export", "export everything a person did, as a zip")
    export.add_argument("username")
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE.zip", help="where to write the zip"
    )
    export.set_defaults(run=_with_node(_export))

    audit = _command(commands, "audit", "print a community's audit trail, derived from the log")
    audit.add_argument("slug", metavar="SLUG", help="the community")
    audit.add_argument(
        "--actor",
        help="only what this actor did: person:ID, agent:ID (with its refused attempts), "
        "remote:URL or a remote actor URL, system, anonymous",
    )
    audit.add_argument(
        "--since", metavar="TIME", help="from this time on (2025-05-01T18:00:00Z, or a date: UTC)"
    )
    audit.add_argument("--until", metavar="TIME", help="before this time (same forms)")
    audit.add_argument(
        "--json", action="store_true", help="one JSON object per line, as the API answers items"
    )
    audit.set_defaults(run=_with_node(_audit))

    demo = _command(commands, "demo", "demo data").add_subparsers(
        dest="demo_command", required=True, metavar="ACTION"
    )
    _command(demo, "seed", "seed a demo community when the store is empty").set_defaults(
        run=_with_node(_seed_demo)
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
        return int(args.run(args, settings))
    except DomainError as error:
        print(f"error: {error.detail}", file=sys.stderr)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
