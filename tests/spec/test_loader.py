"""Reading files: malformed input gives one clear finding each, never an exception."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from orchestrator.spec import load_specs
from orchestrator.spec.loader import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    MAX_NUMBER_CHARS,
    MAX_VALUES,
)
from tests.spec.support import VALID, findings, write


def only_finding(path: Path | str) -> str:
    result = load_specs([path], env={})
    assert not result.ok
    assert len(result.diagnostics) == 1, result.diagnostics
    return str(result.diagnostics[0])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"version: 1\nconference:\n  name: [a\n",
            "4:1: error: invalid YAML: did not find expected ',' or ']'; "
            "while parsing a flow sequence started on line 3",
        ),
        (
            b"version: 1\n\tconference: x\n",
            "2:1: error: invalid YAML: found a tab character that violates indentation; "
            "while scanning a plain scalar started on line 1",
        ),
        (
            b"",
            "1:1: error: file is empty; a conference file needs version, conference and participants",
        ),
        (
            b"# only a comment\n",
            "1:1: error: file is empty; a conference file needs version, conference and participants",
        ),
        (
            b"- a\n- b\n",
            "1:1: error: the top level must be a mapping of keys (version, conference, "
            "participants), not a list",
        ),
        (
            b"hello\n",
            "1:1: error: the top level must be a mapping of keys (version, conference, "
            "participants), not a single value",
        ),
        (
            b"version: 1\x00\n",
            "1:11: error: binary file (contains NUL bytes), not YAML text",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "3:1: error: binary file (contains NUL bytes), not YAML text",
        ),
        (
            b"version: 1\nname: caf\xe9\n",
            "2:10: error: not UTF-8 text (byte 0xe9 cannot be decoded); save it as UTF-8",
        ),
        (
            b"version: \x01\n",
            "1:10: error: invalid YAML: character #x0001 is not allowed",
        ),
        (
            b"version: 1\n---\nversion: 1\n",
            "2:1: error: more than one YAML document (---) in the file; put one conference in "
            "each file",
        ),
        (b"a: *nope\n", "1:4: error: alias *nope has no anchor &nope before it"),
        (b"a: &a\n  b: *a\n", "2:6: error: alias *a refers to the collection that contains it"),
        (b"a: !!set {x}\n", "1:4: error: unsupported YAML tag !!set; remove it"),
    ],
)
def test_unreadable_file_is_one_finding(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "conf.yaml"
    path.write_bytes(content)
    assert only_finding(path) == f"{path}:{expected}"


def test_deep_nesting_is_refused_without_crashing(tmp_path: Path) -> None:
    # Deep enough to crash a recursive composer; refused after MAX_DEPTH levels.
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 200_000 + "]" * 200_000 + "\n")
    # Where it stops depends on the PyYAML version (newer ones limit nesting in the scanner).
    finding = only_finding(path)
    assert finding.startswith(f"{path}:1:")
    assert finding.endswith(f": error: nested more than {MAX_DEPTH} levels deep")


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert path.stat().st_size < 1000  # small on disk, 10**9 values expanded
    finding = only_finding(path)
    assert f"more than {MAX_VALUES} values once aliases are expanded" in finding


def test_file_size_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    assert only_finding(path) == f"{path}:1:1: error: file is larger than 5 MB"


@pytest.mark.parametrize(
    "number",
    [
        "1" + "0" * 100_000,  # 10**100000
        "0x" + "f" * 100_000,  # builds at once, and is too long for Python to print
        "1" + ":59" * 200_000,  # base 60: slow to build
        "1" + "0" * 100_000 + ".5",
    ],
    ids=["decimal", "hex", "base-60", "float"],
)
def test_a_huge_number_is_one_finding(tmp_path: Path, number: str) -> None:
    path = write(tmp_path, VALID.replace("version: 1", f"version: {number}"))
    assert only_finding(path) == (
        f"{path}:1:10: error: a number longer than {MAX_NUMBER_CHARS} characters; no setting "
        "takes one (quote it if it is text)"
    )


def test_numbers_as_long_as_allowed_are_read(tmp_path: Path) -> None:
    number = "1" + "0" * (MAX_NUMBER_CHARS - 1)
    path = write(tmp_path, VALID.replace("version: 1", f"version: {number}"))
    assert "version: 100000" in only_finding(path)  # read, and refused only as a version


@pytest.mark.long
def test_a_file_of_too_many_values_stops_where_the_cap_is_reached(tmp_path: Path) -> None:
    # Under the size cap, but more values than any conference: refused without composing them all.
    path = write(tmp_path, "version: 1\nx:\n" + "- 1\n" * (3 * MAX_VALUES))
    # Five nodes come before the list's items: the top mapping, two keys, a value, the list.
    assert only_finding(path) == (
        f"{path}:{MAX_NODES - 2}:3: error: more than {MAX_NODES} keys and values; "
        "refusing to read further"
    )


@pytest.mark.timeout(10)
def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    os.mkfifo(path)  # no writer: opening it to read would wait for one
    assert only_finding(path) == f"{path}:1:1: error: is a named pipe (FIFO), not a regular file"


@pytest.mark.timeout(10)
def test_a_device_is_refused(tmp_path: Path) -> None:
    # /dev/zero never ends; /dev/null would read as an empty file.
    for device in ("/dev/zero", "/dev/null"):
        assert only_finding(device) == f"{device}:1:1: error: is a device, not a regular file"


@pytest.mark.timeout(10)
def test_a_socket_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a socket's path must be short
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind("conf.yaml")
        assert only_finding("conf.yaml") == (
            "conf.yaml:1:1: error: is a socket, not a regular file"
        )


@pytest.mark.timeout(10)
def test_a_directory_walk_skips_what_is_not_a_regular_file(tmp_path: Path) -> None:
    good = write(tmp_path, VALID, "a.yaml")
    os.mkfifo(tmp_path / "b.yaml")
    result = load_specs([tmp_path], env={})
    assert result.files == (str(good),)
    assert result.ok, result.diagnostics


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not yaml")
    missing = tmp_path / "missing.yaml"
    result = load_specs([missing, empty], env={})
    assert [str(d) for d in result.diagnostics] == [
        f"{empty}:1:1: error: directory holds no *.yaml or *.yml files",
        f"{missing}:1:1: error: no such file or directory",
    ]
    assert result.files == (str(missing), str(empty))
    assert not result.ok


def test_directories_are_searched_recursively_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    write(tmp_path / "b", VALID.replace("test-bridge", "two"), "two.yml")
    write(tmp_path / "a" / "deeper", VALID.replace("test-bridge", "one"), "one.yaml")
    write(tmp_path, "not: [yaml", "ignored.txt")
    # Other tools' YAML in hidden folders and files is not a conference file.
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    write(tmp_path / ".github" / "workflows", "on: push\n", "ci.yml")
    write(tmp_path, "repos: []\n", ".pre-commit-config.yaml")
    result = load_specs([tmp_path, tmp_path / "b" / "two.yml"], env={})
    assert result.files == (
        str(tmp_path / "a" / "deeper" / "one.yaml"),
        str(tmp_path / "b" / "two.yml"),
    )
    assert [spec.conference.name for spec in result.specs] == ["one", "two"]
    assert result.ok


def test_findings_of_several_files_are_all_collected_and_sorted(tmp_path: Path) -> None:
    first = write(tmp_path, VALID.replace("version: 1", "version: 3"), "a.yaml")
    second = write(tmp_path, VALID + "  - name: carol\n", "b.yaml")
    good = write(tmp_path, VALID, "c.yaml")
    result = load_specs([second, good, first], env={})
    assert [str(d) for d in result.diagnostics] == [
        f"{first}:1:10: error: version: 3 is not supported; this orchestrator reads version: 1",
        f"{second}:11:5: error: participants[2]: missing required key 'to'",
    ]
    assert [spec.path for spec in result.specs] == [str(good)]
    assert result.invalid_files == (str(second), str(first))


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    text = VALID + "    to: '+12065550109'\n"
    assert findings(tmp_path, text) == [
        "11:5: error: duplicate key 'to' (first on line 10); YAML would silently keep only "
        "the last one"
    ]


def test_keys_must_be_text(tmp_path: Path) -> None:
    text = VALID + "? [a, b]\n: c\n"
    assert findings(tmp_path, text) == ["11:3: error: a key must be plain text, not a list"]


def test_anchors_aliases_and_merge_keys(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: test-bridge, from: "+12065550200"}
x-common: &common
  timeout: 3
participants:
  - name: alice
    to: "+12065550101"
    <<: *common
  - name: bob
    to: "+12065550102"
    <<: *common
    timeout: 40
"""
    # The merged value is reported where it is written, the unknown key where it stands.
    assert findings(tmp_path, text) == [
        "3:1: error: unknown key 'x-common'",
        "4:12: error: participants[0].timeout: 3 is less than the minimum of 5",
    ]


def test_merge_keys_build_the_model(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: test-bridge, from: "+12065550200"}
defaults: &base
  timeout: 20
  beep: onEnter
roles:
  quiet:
    <<: [{muted: true, beep: onExit}, *base]
    timeout: 25
participants:
  - {name: alice, to: "+12065550101", role: quiet}
"""
    result = load_specs([write(tmp_path, text)], env={})
    assert result.ok, result.diagnostics
    settings = result.specs[0].participants[0].settings
    # Own keys win over merged ones, earlier merged mappings over later ones.
    assert (settings.timeout, settings.muted, settings.beep) == (25, True, "onExit")


def test_merge_needs_mappings(tmp_path: Path) -> None:
    text = VALID + "defaults:\n  <<: 5\n"
    assert findings(tmp_path, text) == [
        "12:7: error: a << merge key needs a mapping or a list of mappings"
    ]


def test_depth_constant_allows_every_real_file() -> None:
    # The deepest real value (participants[i].recording.status_callback.events[j]) is 6 levels.
    assert MAX_DEPTH >= 16
