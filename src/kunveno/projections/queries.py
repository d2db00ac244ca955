"""Answers to the API's questions, read from the read models only (never from aggregates)."""

from __future__ import annotations

from datetime import datetime

from kunveno.domain.actor import Actor
from kunveno.projections.store import ReadStore, Row, timestamp

_COMMUNITY = (
    "SELECT c.id, c.slug, c.name, c.summary, c.visibility, c.membership, c.founded_at, "
    "(SELECT COUNT(*) FROM rm_members m WHERE m.community_id = c.id) AS member_count "
    "FROM rm_communities c"
)

_GATHERING = (
    "SELECT g.*, "
    "(SELECT COUNT(*) FROM rm_registrations r WHERE r.gathering_id = g.id "
    "AND r.status = 'confirmed') AS registration_count, "
    "(SELECT COUNT(*) FROM rm_registrations r WHERE r.gathering_id = g.id "
    "AND r.status = 'waitlisted') AS waitlist_count, "
    "(SELECT COUNT(*) FROM rm_registrations r WHERE r.gathering_id = g.id "
    "AND r.status = 'pending') AS pending_count, "
    "c.slug AS community_slug, c.visibility AS community_visibility, "
    "c.name AS community_name "
    "FROM rm_gatherings g JOIN rm_communities c ON c.id = g.community_id"
)


class Queries:
    def __init__(self, store: ReadStore) -> None:
        self._store = store

    def _one(self, sql: str, params: tuple[object, ...]) -> Row | None:
        rows = self._store.query(sql, params)
        return rows[0] if rows else None

    # -- agents ---------------------------------------------------------------------------

    def agent(self, agent_id: str) -> Row | None:
        return self._one("SELECT * FROM rm_agents WHERE id = %s", (agent_id,))

    def agents(self, community_id: str) -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_agents WHERE community_id = %s AND status <> 'removed' "
            "ORDER BY created_at, id",
            (community_id,),
        )

    def agent_names(self, actors: list[str]) -> dict[str, str]:
        """``agent:ID`` -> the agent's name, for those of ``actors`` that are agents."""
        ids = sorted({a.partition(":")[2] for a in actors if a.startswith("agent:")})
        if not ids:
            return {}
        marks = ", ".join(["%s"] * len(ids))
        rows = self._store.query(
            f"SELECT id, name FROM rm_agents WHERE id IN ({marks})",
            tuple(ids),
        )
        return {f"agent:{row['id']}": str(row["name"]) for row in rows}

    def made_by(self, thing_id: str) -> str | None:
        """Who caused a community thing's first event (a gathering's scheduling, say)."""
        row = self._one(
            "SELECT actor FROM rm_trail WHERE originator_id = %s AND originator_version = 1",
            (thing_id,),
        )
        return None if row is None else str(row["actor"])

    def notices_for(self, person_id: str, limit: int = 100) -> list[Row]:
        """Notices of the gatherings the person is registered for, newest first."""
        return self._store.query(
            "SELECT n.*, g.title AS gathering_title FROM rm_notices n "
            "JOIN rm_gatherings g ON g.id = n.gathering_id "
            "WHERE n.gathering_id IN (SELECT gathering_id FROM rm_registrations "
            "WHERE person_id = %s AND status IN ('confirmed', 'waitlisted', 'pending')) "
            "ORDER BY n.sent_at DESC, n.id LIMIT %s",
            (person_id, limit),
        )

    def notice(self, notice_id: str) -> Row | None:
        return self._one(
            "SELECT n.*, g.title AS gathering_title FROM rm_notices n "
            "JOIN rm_gatherings g ON g.id = n.gathering_id WHERE n.id = %s",
            (notice_id,),
        )

    # -- people ---------------------------------------------------------------------------

    def person(self, person_id: str) -> Row | None:
        return self._one("SELECT * FROM rm_people WHERE id = %s", (person_id,))

    def person_named(self, username: str) -> Row | None:
        return self._one("SELECT * FROM rm_people WHERE username = %s", (username,))

    def usage(self) -> dict[str, int]:
        """Counts for NodeInfo: local people and local posts."""
        row = self._one(
            "SELECT (SELECT COUNT(*) FROM rm_people) AS users, "
            "(SELECT COUNT(*) FROM rm_posts) AS posts",
            (),
        )
        assert row is not None
        return {"users": int(row["users"]), "posts": int(row["posts"])}

    # -- followers ------------------------------------------------------------------------

    def followers(self, followed_id: str, status: str = "accepted") -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_followers WHERE followed_id = %s AND status = %s "
            "ORDER BY changed_at, follower",
            (followed_id, status),
        )

    def follower_count(self, followed_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM rm_followers WHERE followed_id = %s AND status = %s",
            (followed_id, "accepted"),
        )
        return 0 if row is None else int(row["n"])

    def delivery_inboxes(self, followed_id: str) -> list[str]:
        """One inbox per shared inbox: a host hears an activity once, whatever its followers."""
        rows = self._store.query(
            "SELECT DISTINCT COALESCE(shared_inbox, inbox) AS inbox FROM rm_followers "
            "WHERE followed_id = %s AND status = %s ORDER BY 1",
            (followed_id, "accepted"),
        )
        return [row["inbox"] for row in rows]

    def reaction_counts(self, object_url: str) -> dict[str, int]:
        rows = self._store.query(
            "SELECT kind, COUNT(*) AS n FROM rm_reactions WHERE object_url = %s AND active = 1 "
            "GROUP BY kind ORDER BY kind",
            (object_url,),
        )
        counts = {"like": 0, "announce": 0}
        counts.update({row["kind"]: int(row["n"]) for row in rows})
        return counts

    def followed_by_activity(self, follower: str, follow_activity_id: str) -> str | None:
        """What ``follower`` follows through the Follow activity with that id, if anything."""
        row = self._one(
            "SELECT followed FROM rm_followers WHERE follower = %s AND activity_id = %s",
            (follower, follow_activity_id),
        )
        return None if row is None else str(row["followed"])

    def reactions_by(self, actor_url: str) -> list[Row]:
        return self._store.query(
            "SELECT kind, object_url FROM rm_reactions WHERE actor_url = %s AND active = 1 "
            "ORDER BY id",
            (actor_url,),
        )

    def follows_by(self, actor_url: str) -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_followers WHERE follower = %s AND status IN (%s, %s)",
            (actor_url, "pending", "accepted"),
        )

    def active_registrations_of_actor(self, actor_url: str) -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_registrations WHERE actor_url = %s "
            "AND status IN ('confirmed', 'waitlisted', 'pending')",
            (actor_url,),
        )

    # -- what local people asked of other servers ---------------------------------------------

    def outgoing(self, person_id: str, kind: str) -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_outgoing WHERE person_id = %s AND kind = %s ORDER BY changed_at",
            (person_id, kind),
        )

    def local_followers_of(self, actor_url: str) -> list[str]:
        """The local people who follow (or asked to follow) a remote actor."""
        rows = self._store.query(
            "SELECT person_id FROM rm_outgoing WHERE kind = 'follow' AND target = %s "
            "AND status IN ('pending', 'accepted') ORDER BY person_id",
            (actor_url,),
        )
        return [row["person_id"] for row in rows]

    def is_followed_by_someone_here(self, actor_url: str) -> bool:
        rows = self._store.query(
            "SELECT 1 FROM rm_outgoing WHERE kind = 'follow' AND target = %s "
            "AND status = 'accepted' LIMIT 1",
            (actor_url,),
        )
        return bool(rows)

    def remote_gathering(self, url: str) -> Row | None:
        return self._one("SELECT * FROM rm_remote_gatherings WHERE url = %s", (url,))

    def remote_gatherings_for(self, person_id: str) -> list[Row]:
        """Gatherings of the remote actors the person follows, soonest first."""
        return self._store.query(
            "SELECT g.* FROM rm_remote_gatherings g WHERE g.organiser IN ("
            "SELECT target FROM rm_outgoing WHERE person_id = %s AND kind = 'follow' "
            "AND status = 'accepted') ORDER BY g.starts_at, g.url",
            (person_id,),
        )

    def reports(self) -> list[Row]:
        return self._store.query("SELECT * FROM rm_reports ORDER BY received_at DESC, id")

    # -- blocks -----------------------------------------------------------------------------

    def blocks(self) -> list[Row]:
        return self._store.query("SELECT * FROM rm_blocks ORDER BY kind, value")

    # -- communities ----------------------------------------------------------------------

    def directory(self, viewer: str | None) -> list[Row]:
        """Public communities, and the private ones the viewer belongs to."""
        return self._store.query(
            f"{_COMMUNITY} WHERE c.visibility = 'public' OR EXISTS (SELECT 1 FROM rm_members v "
            "WHERE v.community_id = c.id AND v.person_id = %s) ORDER BY c.name, c.slug",
            (viewer or "",),
        )

    def community(self, slug: str) -> Row | None:
        return self._one(f"{_COMMUNITY} WHERE c.slug = %s", (slug,))

    def community_by_id(self, community_id: str) -> Row | None:
        return self._one(f"{_COMMUNITY} WHERE c.id = %s", (community_id,))

    def role(self, community_id: str, person_id: str | None) -> str | None:
        if person_id is None:
            return None
        row = self._one(
            "SELECT role FROM rm_members WHERE community_id = %s AND person_id = %s",
            (community_id, person_id),
        )
        return None if row is None else str(row["role"])

    def members(self, community_id: str) -> list[Row]:
        return self._store.query(
            "SELECT m.person_id, p.username, p.display_name, m.role, m.since "
            "FROM rm_members m LEFT JOIN rm_people p ON p.id = m.person_id "
            "WHERE m.community_id = %s ORDER BY m.since, p.username",
            (community_id,),
        )

    def join_requests(self, community_id: str) -> list[Row]:
        return self._store.query(
            "SELECT j.person_id, p.username, p.display_name, j.requested_at "
            "FROM rm_join_requests j LEFT JOIN rm_people p ON p.id = j.person_id "
            "WHERE j.community_id = %s ORDER BY j.requested_at",
            (community_id,),
        )

    def communities_of(self, person_id: str) -> list[Row]:
        return self._store.query(
            f"{_COMMUNITY} JOIN rm_members me ON me.community_id = c.id "
            "WHERE me.person_id = %s ORDER BY c.name",
            (person_id,),
        )

    # -- gatherings -----------------------------------------------------------------------

    def gathering(self, gathering_id: str) -> Row | None:
        return self._one(f"{_GATHERING} WHERE g.id = %s", (gathering_id,))

    def gatherings(
        self, community_id: str, start: datetime, end: datetime | None, limit: int = 200
    ) -> list[Row]:
        """Gatherings of a community not yet over at ``start`` and starting before ``end``."""
        until = "9999" if end is None else timestamp(end)
        return self._store.query(
            f"{_GATHERING} WHERE g.community_id = %s AND g.ends_at > %s AND g.starts_at < %s "
            "ORDER BY g.starts_at, g.id LIMIT %s",
            (community_id, timestamp(start), until, limit),
        )

    def upcoming_public(self, start: datetime, limit: int = 50) -> list[Row]:
        """Gatherings of public communities not over at ``start``, soonest first."""
        return self._store.query(
            f"{_GATHERING} WHERE c.visibility = 'public' AND g.ends_at > %s "
            "ORDER BY g.starts_at, g.id LIMIT %s",
            (timestamp(start), limit),
        )

    def all_gatherings(self, community_id: str) -> list[Row]:
        return self._store.query(
            f"{_GATHERING} WHERE g.community_id = %s ORDER BY g.starts_at, g.id", (community_id,)
        )

    def participants(self, gathering_id: str) -> list[Row]:
        """Named participants (local and remote) with status; anonymous ones are not listed."""
        return self._store.query(
            "SELECT r.id, r.kind, r.person_id, p.username, p.display_name, r.actor_url, "
            "r.status, r.registered_at FROM rm_registrations r "
            "LEFT JOIN rm_people p ON p.id = r.person_id "
            "WHERE r.gathering_id = %s AND r.kind IN ('person', 'remote') "
            "ORDER BY r.registered_at, r.id",
            (gathering_id,),
        )

    def anonymous_count(self, gathering_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM rm_registrations WHERE gathering_id = %s "
            "AND kind = 'anonymous' AND status IN ('confirmed', 'waitlisted', 'pending')",
            (gathering_id,),
        )
        return 0 if row is None else int(row["n"])

    def registration_counts(self, gathering_id: str) -> dict[str, int]:
        rows = self._store.query(
            "SELECT status, COUNT(*) AS n FROM rm_registrations WHERE gathering_id = %s "
            "GROUP BY status",
            (gathering_id,),
        )
        return {str(row["status"]): int(row["n"]) for row in rows}

    def registrations_of(self, person_id: str) -> list[Row]:
        return self._store.query(
            "SELECT r.id, r.gathering_id, r.status, r.registered_at, g.title, g.starts_at, "
            "g.ends_at, g.timezone, g.status AS gathering_status FROM rm_registrations r "
            "JOIN rm_gatherings g ON g.id = r.gathering_id WHERE r.person_id = %s "
            "ORDER BY g.starts_at",
            (person_id,),
        )

    def registration(self, registration_id: str) -> Row | None:
        return self._one("SELECT * FROM rm_registrations WHERE id = %s", (registration_id,))

    # -- posts ----------------------------------------------------------------------------

    def timeline(self, community_id: str, limit: int = 100) -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_posts WHERE community_id = %s AND deleted = 0 "
            "ORDER BY published_at DESC, id LIMIT %s",
            (community_id, limit),
        )

    def post_ids_by(self, author: str) -> list[str]:
        rows = self._store.query(
            "SELECT id FROM rm_posts WHERE author = %s AND deleted = 0 ORDER BY id", (author,)
        )
        return [row["id"] for row in rows]

    def imported_posts(self, person_id: str) -> list[Row]:
        return self._store.query(
            "SELECT * FROM rm_imported_posts WHERE person_id = %s ORDER BY published_at, id",
            (person_id,),
        )

    def post(self, post_id: str) -> Row | None:
        return self._one("SELECT * FROM rm_posts WHERE id = %s", (post_id,))


def author_person_id(author: str) -> str | None:
    person = Actor.parse(author).person_id
    return None if person is None else str(person)
