"""Sandbox scenarios: how the simulated network behaves, read from a small YAML file.

Every key is optional; ``Scenario()`` is the default behaviour (every number
answers after two simulated seconds, no faults, Telnyx's default dial limit).
Unknown keys and bad values are refused with one line naming the file and the
key, because a typo in a scenario would otherwise silently test something else.

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
- ``profile``: lab (default) or field.
- ``api``: ``participant_list_lag_s``, ``calls_lag_s``, ``hangup_lag_s``,
  ``connected_status``, ``retry_after``, ``reads_per_second``,
  ``create_by_name``, ``json_bodies``, ``duplicate_labels``,
  ``initiate_call_sid``, ``max_page_size`` (see ``ApiBehaviour``).
- ``webhooks``: ``duplicate_rate``, ``reorder_window_ms``, ``retry_attempts``
  (see ``WebhookBehaviour``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import yaml

from orchestrator.errors import ScenarioError
from orchestrator.texml import contract

AnswerMode = Literal["answer", "after", "no-answer", "busy", "fail"]
ANSWER_MODES: Final = ("answer", "after", "no-answer", "busy", "fail")

# How long a busy or failed leg takes to end when the scenario does not say.
DEFAULT_REJECT_SECONDS: Final = 1.0

AnsweredBy = Literal["human", "machine", "not_sure"]
ANSWERED_BY: Final = ("human", "machine", "not_sure")
ThenMode = Literal["answer", "no-answer", "busy"]
THEN_MODES: Final = ("answer", "no-answer", "busy")

# Twilio's largest PageSize, which the sandbox takes unless api.max_page_size says less.
DEFAULT_MAX_PAGE_SIZE: Final = 1000
# A failing webhook receiver is tried this many more times (callbacks says when).
DEFAULT_RETRY_ATTEMPTS: Final = 3

Profile = Literal["lab", "field"]
PROFILES: Final = ("lab", "field")
DuplicateLabels = Literal["reject", "allow"]
DUPLICATE_LABEL_MODES: Final = ("reject", "allow")


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
    answered_by: AnsweredBy = "human"
    then: ThenMode | None = None

    def later(self) -> NumberBehaviour:
        """How a call after the number's first behaves (itself without ``then``)."""
        if self.then is None:
            return self
        return NumberBehaviour(answer=self.then, answered_by=self.answered_by)


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    reset_after_commit_rate: float = 0.0
    # Successful answers whose body is garbled ({}, null, cut off, not JSON); what was asked is done.
    malformed_rate: float = 0.0


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
    pointing at /PageSize.
    """

    participant_list_lag_s: float = 0.0
    calls_lag_s: float = 0.0
    connected_status: str = "connected"
    retry_after: bool = True
    reads_per_second: int = 0
    create_by_name: bool = True
    json_bodies: bool = True
    duplicate_labels: DuplicateLabels = "reject"
    initiate_call_sid: bool = True
    hangup_lag_s: float = 0.0
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE


# ``profile: field``: every knob on its hard side (duplicate Labels stay refused, as documented;
# the largest PageSize stays Twilio's, as nothing says Telnyx takes fewer).
FIELD_API: Final = ApiBehaviour(
    participant_list_lag_s=3.0,
    calls_lag_s=3.0,
    connected_status="in-progress",
    retry_after=False,
    reads_per_second=20,
    create_by_name=False,
    json_bodies=False,
    duplicate_labels="reject",
    initiate_call_sid=False,
    hangup_lag_s=3.0,
)


@dataclass(frozen=True)
class WebhookBehaviour:
    """How callbacks are delivered, beyond the at-least-once retries every receiver gets.

    ``duplicate_rate``: the fraction of callbacks delivered twice (the same
    event, the same EventId). ``reorder_window_ms``: each callback is held a
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
    profile: Profile = "lab"
    api: ApiBehaviour = field(default_factory=ApiBehaviour)
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
        return self.numbers[key] if key is not None else NumberBehaviour()


TOP_LEVEL_KEYS: Final = (
    "seed",
    "time_scale",
    "latency_ms",
    "ring_seconds",
    "dials_per_second",
    "dial_window_seconds",
    "faults",
    "numbers",
    "profile",
    "api",
    "webhooks",
)
FAULT_KEYS: Final = ("error_rate", "reset_after_commit_rate", "malformed_rate")
API_KEYS: Final = (
    "participant_list_lag_s",
    "calls_lag_s",
    "hangup_lag_s",
    "connected_status",
    "retry_after",
    "reads_per_second",
    "create_by_name",
    "json_bodies",
    "duplicate_labels",
    "initiate_call_sid",
    "max_page_size",
)
NUMBER_KEYS: Final = ("answer", "seconds", "hangup_after", "answered_by", "then")
WEBHOOK_KEYS: Final = ("duplicate_rate", "reorder_window_ms", "retry_attempts")


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioError with one line naming file and key."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{source}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ScenarioError(f"{source}: cannot read the scenario file ({reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = error.problem or "invalid YAML"
        raise ScenarioError(f"{source}: {where}not valid YAML ({problem})") from None
    except yaml.YAMLError as error:
        raise ScenarioError(f"{source}: not valid YAML ({error})") from None
    if data is None:
        return Scenario()
    if not isinstance(data, Mapping):
        raise ScenarioError(
            f"{source}: a scenario is a mapping of keys ({', '.join(TOP_LEVEL_KEYS)}), "
            f"got {_kind(data)}"
        )
    return parse_scenario(data, source=source)


def parse_scenario(data: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Check an already-parsed scenario mapping and build the Scenario."""
    checker = _Checker(source)
    checker.keys(data, TOP_LEVEL_KEYS, "")
    values: dict[str, Any] = {}
    if "seed" in data:
        values["seed"] = checker.integer(data["seed"], "seed")
    for key in ("time_scale", "latency_ms", "ring_seconds", "dials_per_second"):
        if key in data:
            values[key] = checker.number(data[key], key, minimum=0.0)
    if "dial_window_seconds" in data:
        values["dial_window_seconds"] = checker.number(
            data["dial_window_seconds"], "dial_window_seconds", minimum=0.0, exclusive=True
        )
    if "faults" in data:
        values["faults"] = _faults(checker, data["faults"])
    if "numbers" in data:
        values["numbers"] = MappingProxyType(_numbers(checker, data["numbers"]))
    profile = checker.choice(data["profile"], "profile", PROFILES) if "profile" in data else "lab"
    values["profile"] = profile
    values["api"] = _api(
        checker, data.get("api"), FIELD_API if profile == "field" else ApiBehaviour()
    )
    values["webhooks"] = _webhooks(checker, data.get("webhooks"))
    return Scenario(**values)


def _webhooks(checker: _Checker, data: Any) -> WebhookBehaviour:
    if data is None:
        return WebhookBehaviour()
    mapping = checker.mapping(data, "webhooks")
    checker.keys(mapping, WEBHOOK_KEYS, "webhooks.")
    given: dict[str, Any] = {}
    if "duplicate_rate" in mapping:
        given["duplicate_rate"] = checker.number(
            mapping["duplicate_rate"], "webhooks.duplicate_rate", minimum=0.0, maximum=1.0
        )
    if "reorder_window_ms" in mapping:
        given["reorder_window_ms"] = checker.number(
            mapping["reorder_window_ms"], "webhooks.reorder_window_ms", minimum=0.0
        )
    if "retry_attempts" in mapping:
        given["retry_attempts"] = checker.integer(
            mapping["retry_attempts"], "webhooks.retry_attempts", minimum=0
        )
    return WebhookBehaviour(**given)


def _api(checker: _Checker, data: Any, base: ApiBehaviour) -> ApiBehaviour:
    """The profile's API behaviour with the keys given under ``api:`` put over it."""
    if data is None:
        return base
    mapping = checker.mapping(data, "api")
    checker.keys(mapping, API_KEYS, "api.")
    given: dict[str, Any] = {}
    for key in ("participant_list_lag_s", "calls_lag_s", "hangup_lag_s"):
        if key in mapping:
            given[key] = checker.number(mapping[key], f"api.{key}", minimum=0.0)
    if "reads_per_second" in mapping:
        given["reads_per_second"] = checker.integer(
            mapping["reads_per_second"], "api.reads_per_second", minimum=0
        )
    if "max_page_size" in mapping:
        given["max_page_size"] = checker.integer(
            mapping["max_page_size"], "api.max_page_size", minimum=1
        )
    for key in ("retry_after", "create_by_name", "json_bodies", "initiate_call_sid"):
        if key in mapping:
            given[key] = checker.boolean(mapping[key], f"api.{key}")
    if "connected_status" in mapping:
        given["connected_status"] = checker.choice(
            mapping["connected_status"],
            "api.connected_status",
            contract.PARTICIPANT_CONNECTED_STATUSES,
        )
    if "duplicate_labels" in mapping:
        given["duplicate_labels"] = checker.choice(
            mapping["duplicate_labels"], "api.duplicate_labels", DUPLICATE_LABEL_MODES
        )
    return replace(base, **given)


def _faults(checker: _Checker, data: Any) -> Faults:
    if data is None:
        return Faults()
    mapping = checker.mapping(data, "faults")
    checker.keys(mapping, FAULT_KEYS, "faults.")
    rates = {
        key: checker.number(mapping[key], f"faults.{key}", minimum=0.0, maximum=1.0)
        for key in FAULT_KEYS
        if key in mapping
    }
    return Faults(**rates)


def _numbers(checker: _Checker, data: Any) -> dict[str, NumberBehaviour]:
    if data is None:
        return {}
    mapping = checker.mapping(data, "numbers")
    numbers: dict[str, NumberBehaviour] = {}
    for raw_number, raw_behaviour in mapping.items():
        if isinstance(raw_number, bool) or not isinstance(raw_number, str | int):
            checker.fail(
                "numbers", f'keys are destinations such as "+15550000001", got {raw_number!r}'
            )
        if isinstance(raw_number, int):
            checker.fail(
                f"numbers.{raw_number}",
                f'quote the number ("+{raw_number}") so YAML keeps it a string with its +',
            )
        number = raw_number.strip()
        if not number:
            checker.fail("numbers", "a destination key is empty")
        where = f"numbers.{number}"
        numbers[number] = _behaviour(checker, raw_behaviour, where)
    return numbers


def _behaviour(checker: _Checker, data: Any, where: str) -> NumberBehaviour:
    mapping = checker.mapping(data, where)
    checker.keys(mapping, NUMBER_KEYS, where + ".")
    if not mapping:
        checker.fail(where, "give answer: and/or hangup_after:, answered_by:, then:")
    answer = mapping.get("answer", "answer")
    if answer not in ANSWER_MODES:
        checker.fail(f"{where}.answer", f"must be one of {', '.join(ANSWER_MODES)}, got {answer!r}")
    seconds = None
    if "seconds" in mapping:
        if answer in ("answer", "no-answer"):
            reason = "uses ring_seconds" if answer == "answer" else "rings until the dial's Timeout"
            checker.fail(f"{where}.seconds", f"not used with answer: {answer} (it {reason})")
        seconds = checker.number(mapping["seconds"], f"{where}.seconds", minimum=0.0)
    elif answer == "after":
        checker.fail(f"{where}.seconds", "answer: after needs seconds: (when it answers)")
    hangup_after = None
    if "hangup_after" in mapping:
        if answer in ("no-answer", "busy", "fail"):
            checker.fail(f"{where}.hangup_after", f"a number that is {answer} never answers")
        hangup_after = checker.number(mapping["hangup_after"], f"{where}.hangup_after", minimum=0.0)
    answered_by = (
        checker.choice(mapping["answered_by"], f"{where}.answered_by", ANSWERED_BY)
        if "answered_by" in mapping
        else "human"
    )
    then = (
        checker.choice(mapping["then"], f"{where}.then", THEN_MODES) if "then" in mapping else None
    )
    return NumberBehaviour(
        answer=answer,
        seconds=seconds,
        hangup_after=hangup_after,
        answered_by=answered_by,  # type: ignore[arg-type]
        then=then,  # type: ignore[arg-type]
    )


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> Any:
        raise ScenarioError(f"{self.source}: {key}: {message}")

    def keys(self, mapping: Mapping[Any, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for key in mapping:
            if key not in allowed:
                self.fail(f"{prefix}{key}", f"unknown key; the keys here are {', '.join(allowed)}")

    def mapping(self, value: Any, key: str) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a mapping, got {_kind(value)}")
        return value  # type: ignore[no-any-return]

    def integer(self, value: Any, key: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return int(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return bool(value)

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def number(
        self,
        value: Any,
        key: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive: bool = False,
    ) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.fail(key, f"must be a number, got {value!r}")
        number = float(value)
        low_bad = minimum is not None and (number <= minimum if exclusive else number < minimum)
        high_bad = maximum is not None and number > maximum
        if minimum is not None and maximum is not None and (low_bad or high_bad):
            self.fail(
                key, f"must be between {_num(minimum)} and {_num(maximum)}, got {_num(number)}"
            )
        if low_bad:
            relation = "greater than" if exclusive else "at least"
            self.fail(key, f"must be {relation} {_num(minimum or 0.0)}, got {_num(number)}")
        return number


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
