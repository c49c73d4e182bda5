"""Domain errors shared by every service.

Domain code raises these; it knows nothing of HTTP. The web layer (``shared.web.problems``)
maps each class to a status code once, so every service answers the same way.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""

    title = "Request could not be processed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    """The thing named does not exist (or is not visible to the caller)."""

    title = "Not found"


class ValidationFailed(DomainError):
    """Fields break a domain rule. ``errors`` maps dotted field paths to messages."""

    title = "Invalid fields"

    def __init__(self, errors: Mapping[str, Sequence[str]], detail: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or "One or more fields are invalid.", **extra)
        self.errors = {key: list(messages) for key, messages in errors.items()}


def errors_of(check: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, list[str]]:
    """The messages of the :class:`ValidationFailed` that ``check(*args, **kwargs)`` raises, or
    ``{}``: checks written to raise can then be run side by side and reported together."""
    try:
        check(*args, **kwargs)
    except ValidationFailed as failed:
        return {path: list(messages) for path, messages in failed.errors.items()}
    return {}


class UnknownClient(ValidationFailed):
    """A ``client_id`` the service has not learnt about (yet) from registry events.

    Answered as 422 naming ``client_id`` with ``Retry-After: 1``: the client may simply not
    have arrived on the bus yet.
    """

    def __init__(self, client_id: object, field: str = "client_id") -> None:
        super().__init__({field: [f"Unknown client {client_id}."]},
                         detail="The client is not known to this service (yet).")
        self.retry_after = 1


class Conflict(DomainError):
    """The request conflicts with the current state of the resource."""

    title = "Conflict"


class ActionNotAllowed(Conflict):
    """A workflow action not allowed in the current state; carries the allowed list.

    ``field`` is the name the API gives that state: a complaint's or survey's ``status``, an
    invitation's ``state``, so the message names what the caller reads.
    """

    title = "Action not allowed"

    def __init__(self, action: str, status: str, allowed_actions: Sequence[str], *,
                 field: str = "status") -> None:
        super().__init__(f"Action '{action}' is not allowed while the {field} is '{status}'.",
                         allowed_actions=list(allowed_actions))
        self.action = action
        self.status = status
        self.allowed_actions = list(allowed_actions)


class StaleVersion(DomainError):
    """An ``If-Match`` naming a version that is no longer current."""

    title = "Precondition failed"


class Gone(DomainError):
    """The resource existed but can no longer be used (used, revoked, expired link)."""

    title = "Gone"


class Forbidden(DomainError):
    """The caller's role may not do this."""

    title = "Forbidden"
