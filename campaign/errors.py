"""Every error this project raises, in one tree.

    CampaignError
    ├── DefinitionError          the campaign file or its templates are invalid (every Problem)
    ├── TemplateError            one template failed to compile or render
    ├── RuleViolation            one post breaks its platform's rules (length)
    ├── ConfigurationError       settings or the environment cannot work (missing credentials, ...)
    ├── StoreError               the store is unreachable, unsafe or failed
    │   ├── StoreTimeout         no answer in time: the step may or may not have been done
    │   └── UnsafeStoreError     Redis could evict or lose the ledger
    └── PublishError             a platform did not accept a post
        ├── TransientPublishError    worth retrying later
        │   └── RateLimited          the platform asked us to wait
        ├── PermanentPublishError    retrying cannot help; a person must act
        │   └── AuthRejected         the credentials were refused
        ├── AlreadyPublished         the platform holds this post already (a duplicate)
        └── OutcomeUnknown           the request may have been applied: never resend blindly

Third-party exceptions (pydantic, yaml, jinja2, requests, redis) are wrapped at the module that
meets them, so callers only ever catch these types. Messages never contain secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a campaign definition, located in a file (and line when known)."""

    file: str
    line: int | None
    message: str
    severity: Severity = Severity.ERROR

    def sort_key(self) -> tuple[str, int, str]:
        """Problems are shown by file, then line."""
        return (self.file, self.line or 0, self.message)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{where}: {prefix}{self.message}"


class CampaignError(Exception):
    """Raised for any failure this project reports; the root of the tree."""


class DefinitionError(CampaignError):
    """Raised when a campaign file or its templates are invalid; carries every problem found."""

    def __init__(self, problems: list[Problem], *, warnings: Sequence[Problem] = ()) -> None:
        self.problems = sorted(problems, key=Problem.sort_key)
        self.warnings = sorted(warnings, key=Problem.sort_key)  # found with them, not fatal
        super().__init__("\n".join(str(p) for p in self.problems))


class TemplateError(CampaignError):
    """Raised when a template cannot be found, compiled or rendered, or escapes the sandbox."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        super().__init__(message)

    def problem(self) -> Problem:
        return Problem(self.file, self.line, str(self))


class RuleViolation(CampaignError):
    """Raised when a rendered post breaks its platform's rules, such as its length limit."""


class ConfigurationError(CampaignError):
    """Raised when settings or the environment cannot work, e.g. a credential variable is unset."""


class StoreError(CampaignError):
    """Raised when the store cannot be opened or reached, or answers unexpectedly."""


class StoreTimeout(StoreError):
    """Raised when the store did not answer in time: the step may or may not have been done."""


class UnsafeStoreError(StoreError):
    """Raised when Redis is configured so that it could evict or silently lose the ledger."""


class PublishError(CampaignError):
    """Raised when a platform did not accept a post."""


class TransientPublishError(PublishError):
    """Raised when a publish failed before the platform applied it and a later try may succeed."""

    def __init__(self, message: str, *, retry_at: datetime | None = None) -> None:
        self.retry_at = retry_at
        super().__init__(message)


class RateLimited(TransientPublishError):
    """Raised when the platform refused a request because of its rate limit."""


class PermanentPublishError(PublishError):
    """Raised when the platform rejected a post and retrying cannot help (4xx other than 429)."""


class AuthRejected(PermanentPublishError):
    """Raised when the platform refused the credentials (401, 403, invalid token)."""


class AlreadyPublished(PublishError):
    """Raised when the platform refuses a post as a duplicate of one it already holds."""


class OutcomeUnknown(PublishError):
    """Raised when the request may have reached the platform but no answer came back."""
