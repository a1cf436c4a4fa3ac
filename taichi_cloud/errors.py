"""Domain errors. The domain raises these; one middleware maps them to HTTP problems."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Marks a string for the gettext catalogs; it is translated where it is shown."""
    return message


class DomainError(Exception):
    status = 400
    title = N_("Bad request")
    slug = "bad-request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class Invalid(DomainError):
    status = 400
    title = N_("Invalid input")
    slug = "invalid"


class Unauthorized(DomainError):
    status = 401
    title = N_("Authentication required")
    slug = "unauthorized"


class Forbidden(DomainError):
    status = 403
    title = N_("Forbidden")
    slug = "forbidden"


class NotFound(DomainError):
    status = 404
    title = N_("Not found")
    slug = "not-found"


class Conflict(DomainError):
    status = 409
    title = N_("Conflict")
    slug = "conflict"


class Gone(DomainError):
    status = 410
    title = N_("Gone")
    slug = "gone"


class PreconditionFailed(DomainError):
    status = 412
    title = N_("Precondition failed")
    slug = "precondition-failed"


class TooLarge(DomainError):
    status = 413
    title = N_("Content too large")
    slug = "too-large"


class UnsupportedMedia(DomainError):
    status = 415
    title = N_("Unsupported media type")
    slug = "unsupported-media-type"


class TooManyRequests(DomainError):
    status = 429
    title = N_("Too many requests")
    slug = "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int = 60, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after
