"""Scenario files: every key read, and every mistake refused in one line naming file and key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from orchestrator.errors import ScenarioError
from orchestrator.sandbox import (
    Faults,
    NumberBehaviour,
    Scenario,
    WebhookBehaviour,
    load_scenario,
    parse_scenario,
)
from orchestrator.yamlfile import MAX_DEPTH, MAX_FILE_BYTES, MAX_NUMBER_CHARS, MAX_VALUES

FULL = """\
seed: 42
time_scale: 0.5
latency_ms: 20
ring_seconds: 3
dials_per_second: 10
dial_window_seconds: 2
faults:
  error_rate: 0.1
  reset_after_commit_rate: 0.05
numbers:
  "+15550000001": {answer: no-answer}
  "+15550000002": {answer: busy}
  "+15550000003": {answer: fail}
  "+15550000004": {answer: after, seconds: 5}
  "+15550000005": {hangup_after: 10}
  "sip:desk@example.com": {answer: after, seconds: 1, hangup_after: 2}
  "+15550000006": {hangup_after: 3, then: answer, answered_by: machine}
  "+15550000007": {answer: busy, then: no-answer, answered_by: not_sure}
webhooks:
  duplicate_rate: 0.25
  reorder_window_ms: 150
  retry_attempts: 5
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_is_read(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, FULL))
    assert (scenario.seed, scenario.time_scale, scenario.latency_ms, scenario.ring_seconds) == (
        42,
        0.5,
        20,
        3,
    )
    assert (scenario.dials_per_second, scenario.dial_window_seconds, scenario.dial_limit) == (
        10,
        2,
        20,
    )
    assert scenario.faults == Faults(error_rate=0.1, reset_after_commit_rate=0.05)
    assert scenario.behaviour("+15550000001") == NumberBehaviour(answer="no-answer")
    assert scenario.behaviour("+15550000004") == NumberBehaviour(answer="after", seconds=5)
    assert scenario.behaviour("+15550000005") == NumberBehaviour(hangup_after=10)
    assert scenario.behaviour("sip:desk@example.com").hangup_after == 2
    assert scenario.behaviour("+19999999999") == NumberBehaviour()
    redialed = scenario.behaviour("+15550000006")
    assert (redialed.hangup_after, redialed.then, redialed.answered_by) == (3, "answer", "machine")
    # A later call answers and stays; who answers is the number's for every call.
    assert redialed.later() == NumberBehaviour(answer="answer", answered_by="machine")
    assert scenario.behaviour("+15550000007").later() == NumberBehaviour(
        answer="no-answer", answered_by="not_sure"
    )
    assert scenario.behaviour("+15550000005").later() == NumberBehaviour(hangup_after=10)
    assert scenario.webhooks == WebhookBehaviour(
        duplicate_rate=0.25, reorder_window_ms=150, retry_attempts=5
    )


def test_defaults() -> None:
    scenario = Scenario()
    assert scenario == parse_scenario({})
    assert (scenario.time_scale, scenario.ring_seconds, scenario.dial_limit) == (1.0, 2.0, 150)
    assert scenario.webhooks == WebhookBehaviour(0.0, 0.0, 3)  # no duplicates, in order, 3 retries
    assert NumberBehaviour() == NumberBehaviour("answer", None, None, "human", None)
    assert parse_scenario({"dials_per_second": 0}).dial_limit == 0


def test_empty_file_is_the_default(tmp_path: Path) -> None:
    assert load_scenario(_write(tmp_path, "# nothing to change\n")) == Scenario()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("faults:\n  error_rate: 2\n", "faults.error_rate: must be between 0 and 1, got 2"),
        ("seeed: 1\n", "seeed: unknown key; the keys here are seed, time_scale"),
        ("faults:\n  error: 0.1\n", "faults.error: unknown key"),
        ("time_scale: -1\n", "time_scale: must be at least 0, got -1"),
        ("time_scale: fast\n", "time_scale: must be a number, got 'fast'"),
        ("latency_ms: true\n", "latency_ms: must be a number, got True"),
        ("seed: 1.5\n", "seed: must be a whole number, got 1.5"),
        ("dial_window_seconds: 0\n", "dial_window_seconds: must be greater than 0, got 0"),
        ("faults: [1]\n", "faults: must be a mapping, got a list"),
        (
            'numbers:\n  "+1555": {answer: maybe}\n',
            "numbers.+1555.answer: must be one of answer, after",
        ),
        (
            'numbers:\n  "+1555": {answer: after}\n',
            "numbers.+1555.seconds: answer: after needs seconds",
        ),
        (
            'numbers:\n  "+1555": {answer: busy, hangup_after: 3}\n',
            "numbers.+1555.hangup_after: a number that is busy never answers",
        ),
        (
            'numbers:\n  "+1555": {answer: no-answer, seconds: 3}\n',
            "numbers.+1555.seconds: not used with answer: no-answer",
        ),
        (
            'numbers:\n  "+1555": {}\n',
            "numbers.+1555: give answer: and/or hangup_after:, answered_by:, then:",
        ),
        ('numbers:\n  "+1555": {ring: 3}\n', "numbers.+1555.ring: unknown key"),
        (
            'numbers:\n  "+1555": {then: hangup}\n',
            "numbers.+1555.then: must be one of answer, no-answer, busy, got 'hangup'",
        ),
        (
            'numbers:\n  "+1555": {answered_by: fax}\n',
            "numbers.+1555.answered_by: must be one of human, machine, not_sure, got 'fax'",
        ),
        ("webhooks: 1\n", "webhooks: must be a mapping, got int"),
        ("webhooks:\n  retries: 1\n", "webhooks.retries: unknown key; the keys here are dup"),
        (
            "webhooks:\n  duplicate_rate: 1.5\n",
            "webhooks.duplicate_rate: must be between 0 and 1, got 1.5",
        ),
        (
            "webhooks:\n  reorder_window_ms: -5\n",
            "webhooks.reorder_window_ms: must be at least 0, got -5",
        ),
        (
            "webhooks:\n  retry_attempts: 2.5\n",
            "webhooks.retry_attempts: must be a whole number, got 2.5",
        ),
        ('numbers:\n  "+1555": busy\n', "numbers.+1555: must be a mapping, got the text 'busy'"),
        ("- 1\n- 2\n", "line 1: the top level must be a mapping of keys (seed, time_scale,"),
        ("seed: [\n", "line 2: invalid YAML: "),
        ("seed: 1\nseed: 2\n", "line 2: duplicate key 'seed' (first on line 1)"),
        ("seed: 1\n---\nseed: 2\n", "line 2: more than one YAML document (---) in the file"),
        ("seed: !!python/int 1\n", "line 1: unsupported YAML tag !!python/int"),
    ],
)
def test_mistakes_are_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text_of_error = str(caught.value)
    assert text_of_error.startswith(f"{path}: ")
    assert message in text_of_error
    assert "\n" not in text_of_error


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ScenarioError, match=f"^{re.escape(str(path))}: no such file or directory$"):
        load_scenario(path)


def test_an_unquoted_number_keeps_its_plus(tmp_path: Path) -> None:
    # Keys are read as written, so YAML's reading of +15550000001 as a number does not apply.
    path = _write(tmp_path, "numbers:\n  +15550000001: {answer: busy}\n")
    assert load_scenario(path).behaviour("+15550000001") == NumberBehaviour(answer="busy")


def _alias_bomb() -> str:
    """A few hundred bytes that are 10**9 values once every alias is expanded (and a message
    quoting the value would spell them all out)."""
    lists = ["&a0 [x, x, x, x, x, x, x, x, x, x]"]
    lists += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return f"seed: [{', '.join(lists)}]\n"


# Conference files and scenario files are read by the same code, with the same limits.
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_alias_bomb(), f"more than {MAX_VALUES} values once aliases are expanded"),
        ("seed: " + "[" * 100_000 + "]" * 100_000 + "\n", f"nested more than {MAX_DEPTH} levels"),
        ("seed: 1" + "0" * 100_000 + "\n", f"a number longer than {MAX_NUMBER_CHARS} characters"),
        ("seed: 0x" + "f" * 100_000 + "\n", f"a number longer than {MAX_NUMBER_CHARS} characters"),
        ("seed: 1\n" + "#" * MAX_FILE_BYTES + "\n", "file is larger than 5 MB"),
        ("seed: 1\x00\n", "line 1: binary file (contains NUL bytes), not YAML text"),
    ],
    ids=["alias-bomb", "deep", "huge-integer", "huge-hex", "too-large", "binary"],
)
def test_the_limits_of_conference_files_hold(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.timeout(10)
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(fifo)
    assert str(caught.value) == f"{fifo}: is a named pipe (FIFO), not a regular file"
    with pytest.raises(ScenarioError) as caught:
        load_scenario("/dev/zero")
    assert str(caught.value) == "/dev/zero: is a device, not a regular file"


def test_parse_scenario_names_its_source() -> None:
    with pytest.raises(ScenarioError, match=r"^inline: faults\.reset_after_commit_rate: "):
        parse_scenario({"faults": {"reset_after_commit_rate": -0.5}}, source="inline")
