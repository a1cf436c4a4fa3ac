"""Domain errors. The domain raises these; one middleware maps them to HTTP problems."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class Invalid(DomainError):
    status = 400
    title = "Invalid input"
    slug = "invalid"


class Unauthorized(DomainError):
    status = 401
    title = "Authentication required"
    slug = "unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class Gone(DomainError):
    status = 410
    title = "Gone"
    slug = "gone"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"
    slug = "precondition-failed"


class TooLarge(DomainError):
    status = 413
    title = "Content too large"
    slug = "too-large"


class UnsupportedMedia(DomainError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class TooManyRequests(DomainError):
    status = 429
    title = "Too many requests"
    slug = "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int = 60, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after
