"""Reading a YAML file within bounds: bytes to plain values, remembering where each key and
value stands.

Conference files (``orchestrator.spec``) and sandbox scenarios
(``orchestrator.sandbox.scenario_file``) are both read here, so both have the
same limits: the file's size, its nesting depth, its number of values (aliases
expanded), the length of a number, and a regular file only (``reading``).

The text becomes a node tree within caps on depth and size
(``orchestrator.yamltree``, which says why the tree is not PyYAML's); this
module walks that tree into plain dicts, lists and scalars plus two maps from JSON
path to :class:`Location`: one for values, one for keys. Aliases and ``<<``
merge keys are expanded during that walk, with a cap on the number of values
produced so that an alias bomb is refused instead of filling memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
import yaml.constructor

from orchestrator.reading import read_bounded
from orchestrator.yamltree import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    MERGE_TAG,
    NULL_TAG,
    STR_TAG,
    TAG_PREFIX,
    Alias,
    Map,
    Node,
    Scalar,
    Seq,
    compose,
    kind_of,
    shown_tag,
)

# The limits every reader of this module names; all but the file's size are the tree's.
from orchestrator.yamltree import MAX_DEPTH as MAX_DEPTH
from orchestrator.yamltree import MAX_NODES as MAX_NODES
from orchestrator.yamltree import MAX_NUMBER_CHARS as MAX_NUMBER_CHARS
from orchestrator.yamltree import MAX_VALUES as MAX_VALUES
from orchestrator.yamltree import LoadProblem as LoadProblem

MAX_FILE_BYTES: Final = 5 * 1024 * 1024

_CONSTRUCTOR: Final = yaml.constructor.SafeConstructor()
# Standard tags read as their text: JSON has no dates or bytes.
_TEXT_TAGS: Final = frozenset(
    {TAG_PREFIX + "timestamp", TAG_PREFIX + "binary", TAG_PREFIX + "value"}
)
# Line breaks as YAML counts them (the parser's line numbers follow these).
_LINE_BREAK: Final = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """Where something stands in a file: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """Something wrong that still lets the rest of the file be read (a duplicate key, a tag)."""

    message: str
    location: Location


@dataclass
class Document:
    path: str
    value: dict[str, Any]
    locations: dict[JsonPath, Location] = field(default_factory=dict)
    key_locations: dict[JsonPath, Location] = field(default_factory=dict)
    # Unquoted scalars YAML read as numbers, by path, with their text: "+12065550100"
    # becomes an int, and the fix ("put it in quotes") needs the original spelling.
    plain_numbers: dict[JsonPath, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_yaml(path: str | Path, *, what: str, keys: Sequence[str]) -> Document | None:
    """Read and parse the file at ``path``: a :class:`Document`, or None when the file holds
    nothing (only comments or ``---``).

    Raises :class:`orchestrator.reading.Unreadable` when the file cannot be read (missing, not
    a regular file, larger than MAX_FILE_BYTES) and :class:`LoadProblem` when it is not one
    YAML mapping within the limits. ``what`` names one file's content ("conference") and
    ``keys`` the keys of its top level, for the messages.
    """
    data = read_bounded(path, MAX_FILE_BYTES)
    return parse_yaml(decode(data), str(path), what=what, keys=keys)


def decode(data: bytes) -> str:
    if b"\x00" in data:
        line, col = _position_of_byte(data, data.index(b"\x00"))
        raise LoadProblem("binary file (contains NUL bytes), not YAML text", line, col)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, col = _position_of_byte(data, error.start)
        raise LoadProblem(
            f"not UTF-8 text (byte 0x{data[error.start]:02x} cannot be decoded); save it as UTF-8",
            line,
            col,
        ) from None


def _position_of_byte(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace"))
    return data.count(b"\n", 0, offset) + 1, column + 1


def parse_yaml(text: str, path: str, *, what: str, keys: Sequence[str]) -> Document | None:
    """Parse YAML text as :func:`read_yaml` does; raises :class:`LoadProblem`."""
    try:
        root = compose(text, what)
    except LoadProblem as problem:
        raise _within(problem, text) from None
    if root is None:
        return None
    top = root.target if isinstance(root, Alias) else root
    if isinstance(top, Scalar) and top.tag == NULL_TAG and not top.value:
        return None  # only a "---" or comments: nothing was written
    lines = _LINE_BREAK.split(text)
    end = (len(lines), len(lines[-1]) + 1)
    if not isinstance(top, Map):
        kind = kind_of(top)
        raise _within(
            LoadProblem(
                f"the top level must be a mapping of keys ({', '.join(keys)}), not {kind}",
                root.line + 1,
                root.col + 1,
            ),
            text,
        )
    document = Document(path=path, value={})
    walker = _Walker(document, end)
    try:
        value = walker.value(root, (), 0)
    except RecursionError:  # a safety net; the depth cap keeps recursion shallow
        raise LoadProblem(f"nested more than {MAX_DEPTH} levels deep") from None
    assert isinstance(value, dict)
    document.value = value
    return document


def _within(problem: LoadProblem, text: str) -> LoadProblem:
    """The problem moved onto the file's last line when the parser points past the end."""
    lines = _LINE_BREAK.split(text)
    if problem.line > len(lines):
        problem.line, problem.col = len(lines), len(lines[-1]) + 1
    return problem


class _Walker:
    """Turns the node tree into plain values, filling the document's location maps."""

    def __init__(self, document: Document, end: tuple[int, int]) -> None:
        self.document = document
        self.count = 0
        self.end = end  # last line and the column after its last character

    def _location(self, node: Node) -> Location:
        line = node.line + 1
        if line > self.end[0]:  # an empty value at the very end of the file
            return Location(self.document.path, *self.end)
        return Location(self.document.path, line, node.col + 1)

    def _tick(self, node: Node, depth: int) -> None:
        self.count += 1
        if self.count > MAX_VALUES:
            location = self._location(node)
            raise LoadProblem(
                f"more than {MAX_VALUES} values once aliases are expanded; refusing to expand "
                "further (too many or nested aliases)",
                location.line,
                location.col,
            )
        if depth > MAX_DEPTH:
            location = self._location(node)
            raise LoadProblem(
                f"nested more than {MAX_DEPTH} levels deep once aliases are expanded",
                location.line,
                location.col,
            )

    def value(self, node: Node, path: JsonPath, depth: int) -> Any:
        self._tick(node, depth)
        # An alias stands where it is used; what it expands to points at the anchor.
        self.document.locations[path] = self._location(node)
        if isinstance(node, Alias):
            node = node.target
        if isinstance(node, Scalar):
            return self._scalar(node, path)
        if isinstance(node, Seq):
            return [
                self.value(item, (*path, index), depth + 1) for index, item in enumerate(node.items)
            ]
        assert isinstance(node, Map)
        result: dict[str, Any] = {}
        for key, (key_node, value_node) in self._pairs(node, depth).items():
            child = (*path, key)
            self.document.key_locations[child] = self._location(key_node)
            result[key] = self.value(value_node, child, depth + 1)
        return result

    def _pairs(self, node: Map, depth: int) -> dict[str, tuple[Node, Node]]:
        """Keys of a mapping with ``<<`` merges applied: own keys win, then earlier merges."""
        self._tick(node, depth)
        own: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.pairs:
            key_target = key_node.target if isinstance(key_node, Alias) else key_node
            if isinstance(key_target, Scalar) and key_target.tag == MERGE_TAG:
                for source in self._merge_sources(value_node):
                    for key, pair in self._pairs(source, depth + 1).items():
                        merged.setdefault(key, pair)
                continue
            if not isinstance(key_target, Scalar):
                self._problem(f"a key must be plain text, not {kind_of(key_target)}", key_node)
                continue
            key = key_target.value
            if key in own:
                first = own[key][0]
                self._problem(
                    f"duplicate key {key!r} (first on line {first.line + 1}); "
                    "YAML would silently keep only the last one",
                    key_node,
                )
            own[key] = (key_node, value_node)
        if not merged:
            return own
        merged.update(own)
        return merged

    def _merge_sources(self, node: Node) -> list[Map]:
        target = node.target if isinstance(node, Alias) else node
        if isinstance(target, Map):
            return [target]
        if isinstance(target, Seq):
            sources: list[Map] = []
            for item in target.items:
                item_target = item.target if isinstance(item, Alias) else item
                if isinstance(item_target, Map):
                    sources.append(item_target)
                else:
                    self._problem("a << merge list may only hold mappings", item)
            return sources
        self._problem("a << merge key needs a mapping or a list of mappings", node)
        return []

    def _scalar(self, node: Scalar, path: JsonPath) -> Any:
        tag = node.tag
        if tag == STR_TAG:
            return node.value
        if tag == NULL_TAG:
            return None
        if tag in (BOOL_TAG, INT_TAG, FLOAT_TAG):
            try:
                value = _construct(node)
            except (ValueError, KeyError, IndexError, yaml.YAMLError):
                kind = {BOOL_TAG: "a boolean", INT_TAG: "an integer"}.get(tag, "a number")
                self._problem(f"{node.value!r} cannot be read as {kind}", node)
                return node.value
            if isinstance(value, float) and not math.isfinite(value):
                return node.value  # JSON has no NaN or infinity; as text the schema says why
            if node.plain and tag != BOOL_TAG:
                self.document.plain_numbers[path] = node.value
            return value
        if tag in _TEXT_TAGS:
            return node.value
        self._problem(f"unsupported YAML tag {shown_tag(tag)}; remove it", node)
        return node.value

    def _problem(self, message: str, node: Node) -> None:
        self.document.problems.append(Problem(message, self._location(node)))


def _construct(node: Scalar) -> Any:
    yaml_node = yaml.ScalarNode(node.tag, node.value)
    if node.tag == BOOL_TAG:
        return _CONSTRUCTOR.construct_yaml_bool(yaml_node)
    if node.tag == INT_TAG:
        return _CONSTRUCTOR.construct_yaml_int(yaml_node)
    return _CONSTRUCTOR.construct_yaml_float(yaml_node)
