"""The project's own errors.

Every error the user can cause or fix derives from :class:`OrchestratorError`.
``str(error)`` is one line that says what went wrong and what to do about it.
Only the CLI (``orchestrator.cli``) turns these into exit codes; library code
raises them and never exits.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error the project raises on purpose."""


class UsageError(OrchestratorError):
    """The command line itself is wrong (flags that do not fit together)."""


class SpecError(OrchestratorError):
    """One or more conference files are invalid; the diagnostics say where."""

    def __init__(self, message: str, diagnostics: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


class ConfigError(OrchestratorError):
    """The environment or options are incomplete: no API key, a bad base URL, an unset variable."""


class ScenarioError(ConfigError):
    """A sandbox scenario file is unreadable or invalid."""


class ApiError(OrchestratorError):
    """The Telnyx API (or the sandbox) answered with an error.

    Carries the HTTP status, the Telnyx error code and detail, and which request
    it answered, so callers can decide without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        detail: str | None = None,
        pointer: str | None = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.method = method
        self.path = path
        self.retry_after = retry_after


class AuthenticationError(ApiError):
    """401: the API key was refused."""


class NotFoundError(ApiError):
    """404: unknown account, conference, participant or call."""


class RequestRejected(ApiError):
    """422 or another 4xx that retrying cannot fix: the request itself is wrong."""


class RateLimitedError(ApiError):
    """429: too many requests or too many dials; ``retry_after`` says how long to wait."""


class ServerError(ApiError):
    """5xx: the server failed; for a dial it is unknown whether the call was placed."""


class ApiUnreachable(OrchestratorError):
    """No HTTP answer at all (connection refused, reset, timed out) after the retries allowed."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", request_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        # True when the failure came after the request may have reached the server.
        self.request_sent = request_sent
