"""Choosing and configuring the event store and the read-model database from one URL."""
