"""Kunveno: a self-hostable, federated, event-sourced server for communities and gatherings."""

__version__ = "0.1.0"
