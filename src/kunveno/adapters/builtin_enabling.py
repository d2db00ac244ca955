"""Built-in agents, the node's part: enabling one in a community and removing an agent. One
path for the client API and the admin pages (as ``erasure`` is for erasing a person), so a
built-in's token is kept, and forgotten, the same way whichever front end asked.

The built-ins themselves (``kunveno.builtin_agents``) act only through the public API; here
the node makes them, keeps their tokens in the side table the runner reads, and lets them go.
"""

from __future__ import annotations

from uuid import UUID

from kunveno.application.agents import NewAgent
from kunveno.application.log import Outcome
from kunveno.bootstrap import Container
from kunveno.builtin_agents.catalogue import BUILTINS
from kunveno.domain.errors import Conflict, NotFound


def enable(
    node: Container,
    person_id: UUID,
    slug: str,
    key: str,
    *,
    name: str | None = None,
    description: str | None = None,
    scopes: list[str] | None = None,
) -> Outcome[NewAgent]:
    """Enable the built-in ``key`` in the community: its name, description and scopes unless
    given (the front ends allow only narrower scopes). The node keeps its token and runs it.

    The built-in is claimed in the side table first (a second claim is the 409), then the agent
    is made, then its token kept with the log position it starts reading from."""
    builtin = BUILTINS.get(key)
    if builtin is None:
        raise NotFound("there is no such built-in agent")
    # Who may not enable it is told so, not that it is enabled already.
    community_id = str(node.agents.require_admin(person_id, slug).id)
    node.fresh_reads()
    states = node.builtin_agents.states
    claim = states.claim(
        community_id, key, node.clock.now(), lambda agent: _not_removed(node, agent)
    )
    if claim is None:
        raise Conflict(f"the {key} agent is enabled in this community already")
    try:
        outcome = node.agents.create(
            person_id,
            slug,
            name=name or builtin.name,
            description=builtin.description if description is None else description,
            scopes=builtin.scopes if scopes is None else scopes,
            builtin=key,
        )
    except BaseException:
        states.release(community_id, key, claim)
        raise
    made = outcome.value
    states.enabled(community_id, key, claim, str(made.agent_id), made.token, outcome.position)
    node.read_your_writes(outcome.position)
    node.builtin_agents.poke()
    return outcome


def remove_agent(node: Container, person_id: UUID, agent_id: UUID) -> Outcome[None]:
    """Remove an agent; a built-in's kept token is forgotten at once (its history stays in
    the log)."""
    outcome = node.agents.remove(person_id, agent_id)
    node.builtin_agents.states.retire(str(agent_id))
    return outcome


def _not_removed(node: Container, agent_id: str) -> bool:
    row = node.queries.agent(agent_id)
    return row is None or row["status"] != "removed"
