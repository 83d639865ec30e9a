"""Whatever is thrown at the loader, it answers with findings, never an exception."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator.spec import ValidationResult, load_specs
from orchestrator.spec.schema import schema

FUZZ = settings(
    max_examples=int(__import__("os").environ.get("SPEC_FUZZ_N", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SECRET = "fuzz-secret-9f3a"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "conf.yaml"


def check_bytes(target: Path, data: bytes) -> ValidationResult:
    target.write_bytes(data)
    result = load_specs([target], env={"X": "1", "PW": SECRET})
    text = data.decode("utf-8", errors="replace")
    lines = len(re.split("\r\n|[\r\n\x85\u2028\u2029]", text))
    for diagnostic in result.diagnostics:
        assert diagnostic.location.file == str(target)
        assert 1 <= diagnostic.location.line <= lines
        assert diagnostic.location.col >= 1
        assert "\n" not in diagnostic.message
        assert SECRET not in diagnostic.message
    # A file either builds a model or says why not.
    assert (len(result.specs) == 1) == result.ok
    return result


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(target: Path, data: bytes) -> None:
    check_bytes(target, data)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(target: Path, text: str) -> None:
    check_bytes(target, text.encode("utf-8"))


TOKENS = [
    "version: 1\n",
    "conference:\n",
    "participants:\n",
    "defaults:\n",
    "roles:\n",
    "  name: c\n",
    "  from: '+12065550100'\n",
    "  - name: a\n",
    "    to: '+12065550101'\n",
    "    to: [",
    "'+12065550102'",
    "]\n",
    "    role: coach\n",
    "    coach: a\n",
    "    sip_auth: {username: u, password: ${PW}}\n",
    "  ",
    "    ",
    "- ",
    ": ",
    ", ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "<<: ",
    "? ",
    "!!int ",
    "!!str ",
    "!x ",
    "|\n",
    ">-\n",
    "${X}",
    "${Y:-z}",
    "$${",
    "${",
    "'",
    '"',
    "#c",
    "\t",
    "\n",
    "---\n",
    "...\n",
    "~",
    "null",
    "yes",
    "0x1f",
    "1e3",
    ".inf",
    "2024-01-01",
    "é",
    "\u2028",
    "\ufeff",
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
@example(["~", "<<: ", "!!int "])  # an empty !!int made PyYAML's constructor raise IndexError
def test_yaml_ish_token_soup(target: Path, tokens: list[str]) -> None:
    check_bytes(target, "".join(tokens).encode("utf-8"))


def _vocabulary() -> list[str]:
    words: set[str] = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            words.update(k for k in node.get("properties", {}) if isinstance(k, str))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema())
    return sorted(words)


KEYS = st.sampled_from(_vocabulary()) | st.text(min_size=1, max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            "+12065550100",
            "sip:a@b.example",
            "onEnter",
            "record-from-start",
            "https://e.example/x",
            "${X}",
            "${PW}",
            "${UNSET}",
            "$${X}",
            "host",
            "coach",
            "a",
        ]
    )
    | st.text(max_size=12)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"version": st.sampled_from([1, 1, 2, "1"])},
        optional={
            "conference": DOCUMENTS,
            "participants": st.lists(st.dictionaries(KEYS, DOCUMENTS, max_size=6), max_size=4),
            "defaults": st.dictionaries(KEYS, DOCUMENTS, max_size=4),
            "roles": st.dictionaries(
                KEYS, st.dictionaries(KEYS, DOCUMENTS, max_size=3), max_size=3
            ),
        },
    ),
    st.sampled_from([True, False]),
)
@pytest.mark.long
def test_random_documents_in_the_files_vocabulary(
    target: Path, document: dict[str, Any], flow: bool
) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    result = check_bytes(target, text.encode("utf-8"))
    if result.ok:
        spec = result.specs[0]
        assert spec.participants
        assert SECRET not in repr(spec)
