"""The pure domain: aggregates, their events, value objects and domain errors.

No I/O, no framework, no clock: times and identifiers are passed in by the application layer.
"""
