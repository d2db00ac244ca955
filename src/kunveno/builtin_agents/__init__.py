"""Built-in agents shipped with Kunveno and enabled per community: the reminder and the
welcome agent. They are ordinary agents: each acts only through the public client API, over
HTTP, with its own token and scopes, and so proves that API enough to build agents on. What
they keep beside the API (their tokens, a stream position, leases) lives in a side table,
never in the event log.
"""
