"""Values JSON cannot hold or YAML reads surprisingly."""

from __future__ import annotations

from pathlib import Path

from tests.spec.support import VALID, findings


def test_not_a_number_and_infinity_read_as_text(tmp_path: Path) -> None:
    text = VALID + "    retry: {interval_s: .inf}\n    time_limit: .nan\n"
    assert findings(tmp_path, text) == [
        "11:25: error: participants[1].retry.interval_s: expected a number, found text '.inf'",
        "12:17: error: participants[1].time_limit: expected an integer, found text '.nan'",
    ]


def test_booleans_are_not_the_version_number(tmp_path: Path) -> None:
    assert findings(tmp_path, VALID.replace("version: 1", "version: true")) == [
        "1:10: error: version: true is not supported; this orchestrator reads version: 1"
    ]


def test_empty_list_entries(tmp_path: Path) -> None:
    text = VALID + "  -\n"
    assert findings(tmp_path, text) == [
        "11:4: error: participants[2]: expected a mapping of keys, found nothing (an empty "
        "value); give a value or remove the entry"
    ]


def test_odd_keys_are_quoted_in_paths(tmp_path: Path) -> None:
    text = VALID + "    custom_headers: {'X.Dotted': 5}\n"
    assert findings(tmp_path, text) == [
        "11:34: error: participants[1].custom_headers['X.Dotted']: expected text, found the "
        'number 5; put it in quotes: "5"'
    ]
