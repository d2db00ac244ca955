"""Errors of the application layer, beside the domain's own."""

from kunveno.domain.errors import Conflict, DomainError


class Unauthenticated(DomainError):
    """No valid credentials: a missing, unknown, expired or revoked token, a wrong password."""

    code = "unauthenticated"


class ConcurrencyConflict(Conflict):
    """Optimistic concurrency kept failing after the bounded number of retries."""

    code = "concurrency_conflict"
