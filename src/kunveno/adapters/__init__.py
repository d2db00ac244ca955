"""Adapters to the outside world: HTTP, persistence, security primitives."""
