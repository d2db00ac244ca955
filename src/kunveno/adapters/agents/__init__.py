"""Agents watching their community: the feed of its events as agents may see them, the
Server-Sent Events hub that carries it to open connections, and signed webhooks for agents
that cannot hold one. Everything here is derived from the log (through the trail) and
resumes from a log position."""
