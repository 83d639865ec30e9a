"""Sandbox scenarios: how the simulated network behaves, read from a small YAML file.

Every key is optional; ``Scenario()`` is the default behaviour (every number
answers after two simulated seconds, no faults, Telnyx's default dial limit).
``scenario_file`` reads and checks the YAML.

The ``api:`` section and ``profile: field`` turn on the real API's rough edges
(lags, the other status word, a general read limit, form-only bodies, no
conference creation by name, hung-up legs still listed): each is undocumented
or only implied by Telnyx, so a client that works against the field profile
does not rely on any of them.

The ``webhooks:`` section makes delivery as loose as Telnyx promises (at
least once, unordered): duplicates, reordering, and how often a failing
receiver is retried (``callbacks`` says how). The keys, all optional:

- ``seed``, ``time_scale``, ``latency_ms``, ``ring_seconds``,
  ``dials_per_second``, ``dial_window_seconds``: see ``Scenario``.
- ``faults``: ``error_rate``, ``reset_after_commit_rate``, ``malformed_rate``.
- ``numbers: {N: {...}}``: ``answer``, ``seconds``, ``hangup_after``,
  ``answered_by``, ``then`` (see ``NumberBehaviour``).
- ``profile``: lab (default), field, new-account, or a list of field and
  new-account (both at once).
- ``api``: ``participant_list_lag_s``, ``calls_lag_s``, ``hangup_lag_s``,
  ``connected_status``, ``retry_after``, ``reads_per_second``,
  ``writes_per_second``, ``create_by_name``, ``json_bodies``,
  ``duplicate_labels``, ``initiate_call_sid``, ``max_page_size``,
  ``answered_by_words``, ``answered_by_lag_s`` (see ``ApiBehaviour``).
- ``account``: ``concurrent_calls``, ``dials_per_hour``, ``dials_per_day``
  (see ``AccountLimits``).
- ``webhooks``: ``duplicate_rate``, ``reorder_window_ms``, ``retry_attempts``
  (see ``WebhookBehaviour``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, get_args

from orchestrator.texml import contract

AnswerMode = Literal["answer", "after", "no-answer", "busy", "fail"]
ANSWER_MODES: Final[tuple[AnswerMode, ...]] = get_args(AnswerMode)

# How long a busy or failed leg takes to end when the scenario does not say.
DEFAULT_REJECT_SECONDS: Final = 1.0

ThenMode = Literal["answer", "no-answer", "busy"]
THEN_MODES: Final[tuple[ThenMode, ...]] = get_args(ThenMode)

# Twilio's largest PageSize, which the sandbox takes unless api.max_page_size says less.
DEFAULT_MAX_PAGE_SIZE: Final = 1000
# A failing webhook receiver is tried this many more times (callbacks says when).
DEFAULT_RETRY_ATTEMPTS: Final = 3

Profile = Literal["lab", "field", "new-account"]
PROFILES: Final[tuple[Profile, ...]] = get_args(Profile)
# What dialing into a conference's friendly name does: create it (true), refuse (404 or 422),
# or place a call that runs the application's own TeXML and joins no conference (app-texml).
CreateByName = Literal["true", "refuse-404", "refuse-422", "app-texml"]
CREATE_BY_NAME_MODES: Final[tuple[CreateByName, ...]] = get_args(CreateByName)
DuplicateLabels = Literal["reject", "allow"]
DUPLICATE_LABEL_MODES: Final[tuple[DuplicateLabels, ...]] = get_args(DuplicateLabels)
AnsweredByWords = Literal["enum", "callback"]
ANSWERED_BY_WORDS: Final[tuple[AnsweredByWords, ...]] = get_args(AnsweredByWords)


@dataclass(frozen=True)
class NumberBehaviour:
    """What happens when one destination is dialed.

    ``answer``: "answer" (after the scenario's ring_seconds), "after" (after
    ``seconds``), "no-answer" (rings until the dial's Timeout), "busy" or "fail"
    (ends after ``seconds``, default 1). ``hangup_after``: the callee hangs up
    that many seconds after answering.

    ``answered_by``: who picks up when the number answers: "human" (the
    default), "machine" (an answering machine) or "not_sure" (nothing a
    detector can decide on). It matters only to a call that asked for
    MachineDetection (``lifecycle`` says what detection reports, and when).

    ``then``: what every call to the number after its first does, counted per
    number over the sandbox's whole life (dials and placed calls alike): the
    first call behaves as ``answer``/``seconds``/``hangup_after`` say, every
    later one as ``then`` says: "answer" (after ring_seconds, and stays up:
    no hangup_after), "no-answer" (rings until the dial's Timeout) or "busy"
    (ends after one second). Without ``then`` every call behaves like the
    first. ``answered_by`` holds for every call.
    """

    answer: AnswerMode = "answer"
    seconds: float | None = None
    hangup_after: float | None = None
    answered_by: contract.AnsweredBy = "human"
    then: ThenMode | None = None

    def later(self) -> NumberBehaviour:
        """How a call after the number's first behaves (itself without ``then``)."""
        if self.then is None:
            return self
        return NumberBehaviour(answer=self.then, answered_by=self.answered_by)


# What a number the scenario does not name does (one for all: it is frozen).
DEFAULT_BEHAVIOUR: Final = NumberBehaviour()


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    reset_after_commit_rate: float = 0.0
    # Successful answers whose body is garbled ({}, null, cut off, not JSON); what was asked is done.
    malformed_rate: float = 0.0

    @property
    def any(self) -> bool:
        return self.error_rate > 0 or self.reset_after_commit_rate > 0 or self.malformed_rate > 0


@dataclass(frozen=True)
class ApiBehaviour:
    """How closely the API imitates the real one where Telnyx's documentation is silent.

    The defaults are the forgiving "lab" side; ``FIELD_API`` is the hard side.
    Lags are simulated seconds (scaled by time_scale); the read limit is real time.

    ``participant_list_lag_s``: a new leg shows in its conference's participant
    list only this long after its dial. ``calls_lag_s``: ``GET Calls/{sid}``
    knows a new call only this long after it was placed. ``hangup_lag_s``: a
    participant hung up through the API (DELETE) is still returned by the
    participant endpoints, the list and the get by call SID or Label, for this
    long, as it was just before (its status included); updating or deleting it
    again is a 404 at once, as is everything else about a leg that has gone.
    ``max_page_size``: the largest PageSize a list takes; a larger one is a 422
    pointing at /PageSize. ``answered_by_words``: what ``Calls/{sid}``'s
    ``answered_by`` says once detection is done: ``enum`` the spec's human,
    machine, not_sure; ``callback`` the AMD callback's human, machine_start,
    machine_end_beep, machine_end_other, unknown. ``answered_by_lag_s``: the
    detection's result shows in ``Calls/{sid}`` only this long after detection finished
    (its AMD callback goes at once). ``writes_per_second``: the general limit (429, code
    10011) on POST and DELETE requests, dials and placed calls included, as
    ``reads_per_second`` is on GETs. ``create_by_name``: what a dial into a friendly name
    does (``CreateByName``).
    """

    participant_list_lag_s: float = 0.0
    calls_lag_s: float = 0.0
    connected_status: contract.ParticipantConnectedStatus = "connected"
    retry_after: bool = True
    reads_per_second: int = 0
    writes_per_second: int = 0
    create_by_name: CreateByName = "true"
    json_bodies: bool = True
    duplicate_labels: DuplicateLabels = "reject"
    initiate_call_sid: bool = True
    hangup_lag_s: float = 0.0
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE
    answered_by_words: AnsweredByWords = "enum"
    answered_by_lag_s: float = 0.0


# ``profile: field``: every knob on its hard side (duplicate Labels stay refused, as documented;
# the largest PageSize stays Twilio's, as nothing says Telnyx takes fewer). Creation by name
# runs the application's TeXML: the hardest of its readings, costing the creating participant
# a second call, which apply survives (a refusal, 404 or 422, costs nothing).
FIELD_API: Final = ApiBehaviour(
    participant_list_lag_s=3.0,
    calls_lag_s=3.0,
    connected_status="in-progress",
    retry_after=False,
    reads_per_second=20,
    writes_per_second=10,
    create_by_name="app-texml",
    json_bodies=False,
    duplicate_labels="reject",
    initiate_call_sid=False,
    hangup_lag_s=3.0,
    answered_by_words="callback",
    answered_by_lag_s=3.0,
)


@dataclass(frozen=True)
class AccountLimits:
    """The account's own limits (0: none). ``concurrent_calls``: live calls at once; a call
    placed over it fails at once (SIP 403: status failed, never ringing). ``dials_per_hour``
    and ``dials_per_day``: dials and placed calls accepted in any rolling hour or day (real
    time, like the dial limit); over either the request is refused with a 429 whose
    ``x-ratelimit-reset`` says when a place frees."""

    concurrent_calls: int = 0
    dials_per_hour: int = 0
    dials_per_day: int = 0


# ``profile: new-account``: Telnyx's documented levels for a new paid account.
NEW_ACCOUNT: Final = AccountLimits(concurrent_calls=5, dials_per_hour=10, dials_per_day=100)


@dataclass(frozen=True)
class WebhookBehaviour:
    """How callbacks are delivered, beyond the at-least-once retries every receiver gets.

    ``duplicate_rate``: the fraction of callbacks delivered twice (the same
    event, the same fields). ``reorder_window_ms``: each callback is held a
    random 0..N milliseconds of real time before it is queued for its URL, so
    callbacks to one receiver can arrive out of order. ``retry_attempts``: how
    many more times a failed delivery is tried (default 3). Draws come from
    the scenario's seed.
    """

    duplicate_rate: float = 0.0
    reorder_window_ms: float = 0.0
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS


def _no_numbers() -> Mapping[str, NumberBehaviour]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Scenario:
    """Every scenario key with its default. Durations are simulated seconds (see time_scale)."""

    seed: int = 0
    time_scale: float = 1.0
    latency_ms: float = 0.0
    ring_seconds: float = 2.0
    dials_per_second: float = float(contract.DEFAULT_DIALS_PER_SECOND)
    dial_window_seconds: float = float(contract.DEFAULT_DIAL_WINDOW_S)
    faults: Faults = field(default_factory=Faults)
    numbers: Mapping[str, NumberBehaviour] = field(default_factory=_no_numbers)
    profile: str = "lab"  # one of PROFILES, or "field+new-account"
    api: ApiBehaviour = field(default_factory=ApiBehaviour)
    account: AccountLimits = field(default_factory=AccountLimits)
    webhooks: WebhookBehaviour = field(default_factory=WebhookBehaviour)

    @property
    def dial_limit(self) -> int:
        """Dials allowed in any window of dial_window_seconds; 0 means unlimited."""
        if self.dials_per_second <= 0:
            return 0
        return max(1, math.floor(self.dials_per_second * self.dial_window_seconds + 1e-9))

    def number_key(self, to: str) -> str | None:
        """The ``numbers:`` key that ``to`` is configured under, if any."""
        for key in (to, to.lower()):
            if key in self.numbers:
                return key
        return None

    def behaviour(self, to: str) -> NumberBehaviour:
        key = self.number_key(to)
        return self.numbers[key] if key is not None else DEFAULT_BEHAVIOUR
