"""Typed domain errors: each names a broken rule with a stable machine code.

The HTTP adapter maps a code to a status; the domain only says what went wrong.
"""


class DomainError(Exception):
    """A command was refused because it would break a rule of the domain."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValue(DomainError):
    """A value is out of its allowed range or shape (end before start, negative capacity)."""

    code = "invalid_value"


class NotFound(DomainError):
    """The thing addressed does not exist (or is not visible to the caller)."""

    code = "not_found"


class PermissionDenied(DomainError):
    """The actor is known but may not do this."""

    code = "forbidden"


class ScopeMissing(PermissionDenied):
    """An agent asked for what its scopes do not grant."""

    code = "scope_missing"

    def __init__(self, detail: str, scope: str) -> None:
        super().__init__(detail)
        self.scope = scope


class Conflict(DomainError):
    """The command conflicts with the current state."""

    code = "conflict"


class NameTaken(Conflict):
    code = "name_taken"


class AlreadyMember(Conflict):
    code = "already_member"


class NotMember(Conflict):
    code = "not_member"


class LastOwnerCannotLeave(Conflict):
    code = "last_owner"


class GatheringCancelled(Conflict):
    code = "gathering_cancelled"


class GatheringOver(Conflict):
    code = "gathering_over"


class AlreadyRegistered(Conflict):
    code = "already_registered"


class RegistrationClosed(Conflict):
    """A registration is no longer active (cancelled or declined) and cannot change."""

    code = "registration_closed"


class CapacityBelowConfirmed(Conflict):
    code = "capacity_below_confirmed"


class AnonymousRegistrationNotAllowed(PermissionDenied):
    code = "anonymous_registration_not_allowed"


class PostDeleted(Conflict):
    code = "post_deleted"
