"""Community admin pages: what a community's moderators and admins do from a browser (members
and join requests, gatherings and their registrations, agents and the audit trail, followers
from the fediverse), and the node's blocks for the node's administrators.

Each page asks who is visiting as the API does (see ``desk``), and every action is decided
again by the services, by the domain's rules. Moderators see what they may do; admins see
everything. One module per area; ``router`` holds them all, in the order their routes must be
tried (fixed paths before the patterns that would take them).
"""

from __future__ import annotations

from fastapi import APIRouter

from . import agents, audit, blocks, followers, gatherings, members, overview, registrations

router = APIRouter(include_in_schema=False)
for area in (overview, members, gatherings, registrations, agents, audit, followers, blocks):
    router.include_router(area.router)
