"""Reading a scenario file: YAML in, a checked ``Scenario`` out.

Unknown keys and bad values are refused with one line naming the file and the
key, because a typo in a scenario would otherwise silently test something else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from orchestrator.errors import ScenarioError
from orchestrator.reading import Unreadable
from orchestrator.sandbox.scenario import (
    ANSWER_MODES,
    ANSWERED_BY_WORDS,
    CREATE_BY_NAME_MODES,
    DUPLICATE_LABEL_MODES,
    FIELD_API,
    NEW_ACCOUNT,
    PROFILES,
    THEN_MODES,
    AccountLimits,
    ApiBehaviour,
    Faults,
    NumberBehaviour,
    Scenario,
    WebhookBehaviour,
)
from orchestrator.texml import contract
from orchestrator.yamlfile import LoadProblem, read_yaml

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
    "account",
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
    "writes_per_second",
    "create_by_name",
    "json_bodies",
    "duplicate_labels",
    "initiate_call_sid",
    "max_page_size",
    "answered_by_words",
    "answered_by_lag_s",
)
ACCOUNT_KEYS: Final = ("concurrent_calls", "dials_per_hour", "dials_per_day")
NUMBER_KEYS: Final = ("answer", "seconds", "hangup_after", "answered_by", "then")
WEBHOOK_KEYS: Final = ("duplicate_rate", "reorder_window_ms", "retry_attempts")


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioError with one line naming file and key.

    It is read as conference files are (``orchestrator.yamlfile``), with the same limits.
    """
    source = str(path)
    try:
        document = read_yaml(path, what="scenario", keys=TOP_LEVEL_KEYS)
    except Unreadable as error:
        raise ScenarioError(f"{source}: {error.reason}") from None
    except LoadProblem as problem:
        raise ScenarioError(f"{source}: line {problem.line}: {problem.message}") from None
    if document is None:
        return Scenario()
    if document.problems:  # a duplicate key, a tag: other YAML readers would read otherwise
        first = document.problems[0]
        raise ScenarioError(f"{source}: line {first.location.line}: {first.message}")
    return parse_scenario(document.value, source=source)


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
    profiles = _profiles(checker, data["profile"]) if "profile" in data else ("lab",)
    values["profile"] = "+".join(profiles)
    values["api"] = _api(
        checker, data.get("api"), FIELD_API if "field" in profiles else ApiBehaviour()
    )
    values["account"] = _account(
        checker, data.get("account"), NEW_ACCOUNT if "new-account" in profiles else AccountLimits()
    )
    values["webhooks"] = _webhooks(checker, data.get("webhooks"))
    return Scenario(**values)


def _profiles(checker: _Checker, data: Any) -> tuple[str, ...]:
    """One profile, or a list of them: field and new-account combine (the API's hard side
    and a new account's limits), lab combines with nothing."""
    if not isinstance(data, list):
        return (checker.choice(data, "profile", PROFILES),)
    names = tuple(checker.choice(item, "profile", PROFILES) for item in data)
    if not names or ("lab" in names and len(names) > 1) or len(set(names)) != len(names):
        checker.fail("profile", "a list names field and/or new-account, each once")
    return names


def _account(checker: _Checker, data: Any, base: AccountLimits) -> AccountLimits:
    """The profile's account limits with the keys given under ``account:`` put over it."""
    if data is None:
        return base
    mapping = checker.mapping(data, "account")
    checker.keys(mapping, ACCOUNT_KEYS, "account.")
    given = {
        key: checker.integer(mapping[key], f"account.{key}", minimum=0)
        for key in ACCOUNT_KEYS
        if key in mapping
    }
    return replace(base, **given)


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
    for key in ("participant_list_lag_s", "calls_lag_s", "hangup_lag_s", "answered_by_lag_s"):
        if key in mapping:
            given[key] = checker.number(mapping[key], f"api.{key}", minimum=0.0)
    if "reads_per_second" in mapping:
        given["reads_per_second"] = checker.integer(
            mapping["reads_per_second"], "api.reads_per_second", minimum=0
        )
    if "writes_per_second" in mapping:
        given["writes_per_second"] = checker.integer(
            mapping["writes_per_second"], "api.writes_per_second", minimum=0
        )
    if "create_by_name" in mapping:
        given["create_by_name"] = _create_by_name(checker, mapping["create_by_name"])
    if "max_page_size" in mapping:
        given["max_page_size"] = checker.integer(
            mapping["max_page_size"], "api.max_page_size", minimum=1
        )
    for key in ("retry_after", "json_bodies", "initiate_call_sid"):
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
    if "answered_by_words" in mapping:
        given["answered_by_words"] = checker.choice(
            mapping["answered_by_words"], "api.answered_by_words", ANSWERED_BY_WORDS
        )
    return replace(base, **given)


def _create_by_name(checker: _Checker, value: Any) -> str:
    """true, refuse-404, refuse-422 or app-texml; false, as older files say, is refuse-404."""
    if value is True:
        return "true"
    if value is False:
        return "refuse-404"
    return checker.choice(value, "api.create_by_name", CREATE_BY_NAME_MODES[1:])


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
        checker.choice(mapping["answered_by"], f"{where}.answered_by", contract.ANSWERED_BY_VALUES)
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
