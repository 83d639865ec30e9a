"""The project's own errors.

Every error the user can cause or fix derives from :class:`OrchestratorError`,
and ``str(error)`` is one line that says what went wrong and what to do about
it. Only the CLI (``orchestrator.cli``) turns these into exit codes; library
code raises them and never exits.

    OrchestratorError
    ├── UsageError          the command line itself is wrong
    ├── SpecError           conference files are invalid (carries the diagnostics)
    ├── ConfigError         environment or options incomplete
    │   └── ScenarioError   a sandbox scenario is unreadable or invalid
    ├── ApiError            the API answered with an error (status, code, detail, request)
    │   ├── AuthenticationError   401: the key was refused
    │   ├── NotFoundError         404: unknown account, conference, participant or call
    │   ├── RequestRejected       422 or another 4xx: the request itself is wrong
    │   ├── RateLimitedError      429: wait (``rate`` says how long) and send again
    │   ├── ServerError           5xx: the server failed
    │   └── DialUnconfirmed       a dial may or may not have placed a call
    ├── ApiUnreachable      no HTTP answer at all (``request_sent`` says if it may have arrived)
    ├── MalformedAnswer     a 2xx answer that is not the JSON it should be
    └── NotSent             the run stopped before the request left; nothing was sent

What a failed request did is part of the type: a 4xx did nothing, a 429 did
nothing, an ``ApiUnreachable`` with ``request_sent`` False did nothing, and
``NotSent`` did nothing; a 5xx, a reset after sending or a malformed answer to
a dial may have placed a call (``DialUnconfirmed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.pacing.headers import RateReport


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

    Carries the HTTP status, the Telnyx error code and detail, which request it
    answered, and what its rate-limit headers said, so callers can decide
    without parsing the message.
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
        rate: RateReport | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.method = method
        self.path = path
        self.rate = rate

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (Retry-After, else x-ratelimit-reset), if it said."""
        return self.rate.wait_s if self.rate is not None else None


class AuthenticationError(ApiError):
    """401: the API key was refused."""


class NotFoundError(ApiError):
    """404: unknown account, conference, participant or call."""


class RequestRejected(ApiError):
    """422 or another 4xx that retrying cannot fix: the request itself is wrong."""


class RateLimitedError(ApiError):
    """429: too many requests or too many dials; nothing was done."""


class ServerError(ApiError):
    """5xx: the server failed; for a dial it is unknown whether the call was placed."""


class DialUnconfirmed(ApiError):
    """The dial may or may not have placed a call (5xx, reset or timeout after sending, an
    answer that cannot be read): look it up by Label before dialing again."""


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


class MalformedAnswer(OrchestratorError):
    """A 2xx answer that is not the JSON it should be (cut off, empty, garbled)."""


class NotSent(OrchestratorError):
    """The request never left: the run was stopped, or (``held_back``) dialing paused while it
    waited for its place. Nothing was sent."""

    def __init__(self, message: str, *, held_back: bool = False) -> None:
        super().__init__(message)
        self.held_back = held_back
