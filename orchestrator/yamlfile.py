"""Reading a YAML file within bounds: bytes to plain values, remembering where each key and
value stands.

Conference files (``orchestrator.spec``) and sandbox scenarios
(``orchestrator.sandbox.scenario_file``) are both read here, so both have the
same limits: the file's size, its nesting depth, its number of values (aliases
expanded), the length of a number, and a regular file only (``reading``).

PyYAML's composer keeps positions but hides where aliases were used, gives no
way to count the values an alias expands into, and stops deep nesting only at
its own limit (which differs between versions), so this module builds its own
small node tree from the parser's events, iteratively and with caps of its own
on depth and size, then walks it into plain dicts, lists and scalars plus two
maps from JSON path to :class:`Location`: one for values, one for keys. Aliases
and ``<<`` merge keys are expanded during that walk, with a cap on the number of
values produced so that an alias bomb is refused instead of filling memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
import yaml.constructor
import yaml.resolver

from orchestrator.reading import read_bounded

MAX_FILE_BYTES: Final = 5 * 1024 * 1024
MAX_VALUES: Final = 100_000
MAX_DEPTH: Final = 64
# Keys and values as written (aliases not expanded). At most one key comes with each value, so
# a file with more holds more than MAX_VALUES values anyway; stopping while composing spares
# the time and memory of reading the rest.
MAX_NODES: Final = 2 * MAX_VALUES
# Characters of one number: enough for any setting; a longer one would make a huge integer,
# slow to build (a base-60 one) and too long for Python to print.
MAX_NUMBER_CHARS: Final = 100

# The C parser is several times faster; the pure-Python one gives the same events.
_LOADER: Final[type[Any]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER: Final = yaml.resolver.Resolver()
_CONSTRUCTOR: Final = yaml.constructor.SafeConstructor()

_TAG = "tag:yaml.org,2002:"
STR_TAG: Final = _TAG + "str"
NULL_TAG: Final = _TAG + "null"
BOOL_TAG: Final = _TAG + "bool"
INT_TAG: Final = _TAG + "int"
FLOAT_TAG: Final = _TAG + "float"
MERGE_TAG: Final = _TAG + "merge"
# Standard tags read as their text: JSON has no dates or bytes.
_TEXT_TAGS: Final = frozenset({_TAG + "timestamp", _TAG + "binary", _TAG + "value"})
# Line breaks as YAML counts them (the parser's line numbers follow these).
_LINE_BREAK: Final = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_SEQ_TAGS: Final = frozenset({None, "!", _TAG + "seq"})
_MAP_TAGS: Final = frozenset({None, "!", _TAG + "map"})


JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """Where something stands in a file: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class LoadProblem(Exception):
    """The file cannot be read as one YAML mapping at all; nothing else can be checked."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


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


class _Node:
    __slots__ = ("col", "line")

    def __init__(self, line: int, col: int) -> None:
        self.line = line
        self.col = col


class _Scalar(_Node):
    __slots__ = ("plain", "tag", "value")

    def __init__(self, line: int, col: int, value: str, tag: str, plain: bool) -> None:
        super().__init__(line, col)
        self.value = value
        self.tag = tag
        self.plain = plain


class _Seq(_Node):
    __slots__ = ("items",)

    def __init__(self, line: int, col: int) -> None:
        super().__init__(line, col)
        self.items: list[_Node] = []


class _Map(_Node):
    __slots__ = ("key", "pairs")

    def __init__(self, line: int, col: int) -> None:
        super().__init__(line, col)
        self.pairs: list[tuple[_Node, _Node]] = []
        self.key: _Node | None = None  # a key waiting for its value while composing


class _Alias(_Node):
    __slots__ = ("target",)

    def __init__(self, line: int, col: int, target: _Node) -> None:
        super().__init__(line, col)
        self.target = target


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


def _position_of_char(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def parse_yaml(text: str, path: str, *, what: str, keys: Sequence[str]) -> Document | None:
    """Parse YAML text as :func:`read_yaml` does; raises :class:`LoadProblem`."""
    try:
        root = _compose(text, what)
    except LoadProblem as problem:
        raise _within(problem, text) from None
    if root is None:
        return None
    top = root.target if isinstance(root, _Alias) else root
    if isinstance(top, _Scalar) and top.tag == NULL_TAG and not top.value:
        return None  # only a "---" or comments: nothing was written
    lines = _LINE_BREAK.split(text)
    end = (len(lines), len(lines[-1]) + 1)
    if not isinstance(top, _Map):
        kind = _kind_of_node(top)
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


def _kind_of_node(node: _Node) -> str:
    if isinstance(node, _Seq):
        return "a list"
    if isinstance(node, _Scalar):
        return "a single value" if node.value else "an empty value"
    return "a mapping"


def _compose(text: str, what: str) -> _Node | None:
    """Build the node tree of the single document in ``text`` from parser events."""
    stack: list[_Seq | _Map] = []
    nodes = 0
    anchors: dict[str, _Node] = {}
    open_anchors: dict[int, str] = {}  # id(collection) -> anchor, for collections still open
    documents = 0
    root: _Node | None = None

    def attach(node: _Node) -> None:
        nonlocal root, nodes
        nodes += 1
        if nodes > MAX_NODES:
            raise LoadProblem(
                f"more than {MAX_NODES} keys and values; refusing to read further",
                node.line + 1,
                node.col + 1,
            )
        if not stack:
            root = node
            return
        parent = stack[-1]
        if isinstance(parent, _Seq):
            parent.items.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.pairs.append((parent.key, node))
            parent.key = None

    try:
        events: Iterator[Any] = yaml.parse(text, Loader=_LOADER)
        for event in events:
            mark = event.start_mark
            kind = type(event)
            if kind is yaml.ScalarEvent:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _resolve_tag(event.value, event.implicit)
                if len(event.value) > MAX_NUMBER_CHARS and tag in (INT_TAG, FLOAT_TAG):
                    raise LoadProblem(
                        f"a number longer than {MAX_NUMBER_CHARS} characters; no setting takes "
                        "one (quote it if it is text)",
                        mark.line + 1,
                        mark.column + 1,
                    )
                node: _Node = _Scalar(
                    mark.line, mark.column, event.value, tag, bool(event.implicit[0])
                )
                if event.anchor is not None:
                    anchors[event.anchor] = node
                attach(node)
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                if len(stack) >= MAX_DEPTH:
                    raise LoadProblem(
                        f"nested more than {MAX_DEPTH} levels deep", mark.line + 1, mark.column + 1
                    )
                is_seq = kind is yaml.SequenceStartEvent
                if event.tag not in (_SEQ_TAGS if is_seq else _MAP_TAGS):
                    raise LoadProblem(
                        f"unsupported YAML tag {_shown_tag(event.tag)}; remove it",
                        mark.line + 1,
                        mark.column + 1,
                    )
                collection: _Seq | _Map = (
                    _Seq(mark.line, mark.column) if is_seq else _Map(mark.line, mark.column)
                )
                if event.anchor is not None:
                    open_anchors[id(collection)] = event.anchor
                attach(collection)
                stack.append(collection)
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                finished = stack.pop()
                anchor = open_anchors.pop(id(finished), None)
                if anchor is not None:
                    anchors[anchor] = finished
            elif kind is yaml.AliasEvent:
                name = event.anchor
                target = anchors.get(name)
                if target is None:
                    if name in open_anchors.values():
                        raise LoadProblem(
                            f"alias *{name} refers to the collection that contains it",
                            mark.line + 1,
                            mark.column + 1,
                        )
                    raise LoadProblem(
                        f"alias *{name} has no anchor &{name} before it",
                        mark.line + 1,
                        mark.column + 1,
                    )
                attach(_Alias(mark.line, mark.column, target))
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise LoadProblem(
                        f"more than one YAML document (---) in the file; put one {what} in each file",
                        mark.line + 1,
                        mark.column + 1,
                    )
    except yaml.MarkedYAMLError as error:
        raise _syntax_problem(error) from None
    except yaml.reader.ReaderError as error:
        line, col = _position_of_char(text, error.position)
        character = error.character
        shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
        raise LoadProblem(f"invalid YAML: character {shown} is not allowed", line, col) from None
    except yaml.YAMLError as error:
        raise LoadProblem(f"invalid YAML: {_one_line(str(error))}") from None
    return root


def _resolve_tag(value: str, implicit: tuple[bool, bool]) -> str:
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


def _syntax_problem(error: yaml.MarkedYAMLError) -> LoadProblem:
    # Built from problem and context only: str(error) quotes the line, which may hold a secret.
    parts = [_one_line(part) for part in (error.problem, error.context) if part]
    mark = error.problem_mark or error.context_mark
    if any("nesting depth" in part for part in parts):
        # Newer PyYAML stops deep nesting itself, sometimes before our own depth check sees it.
        parts = [f"nested more than {MAX_DEPTH} levels deep"]
        return (
            LoadProblem(parts[0], mark.line + 1, mark.column + 1) if mark else LoadProblem(parts[0])
        )
    context, problem = error.context_mark, error.problem_mark
    if error.context and context and problem and context.line != problem.line:
        parts[-1] += f" started on line {context.line + 1}"
    message = "invalid YAML: " + ("; ".join(parts) or "syntax error")
    if mark is None:
        return LoadProblem(message)
    return LoadProblem(message, mark.line + 1, mark.column + 1)


def _within(problem: LoadProblem, text: str) -> LoadProblem:
    """The problem moved onto the file's last line when the parser points past the end."""
    lines = _LINE_BREAK.split(text)
    if problem.line > len(lines):
        problem.line, problem.col = len(lines), len(lines[-1]) + 1
    return problem


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Walker:
    """Turns the node tree into plain values, filling the document's location maps."""

    def __init__(self, document: Document, end: tuple[int, int]) -> None:
        self.document = document
        self.count = 0
        self.end = end  # last line and the column after its last character

    def _location(self, node: _Node) -> Location:
        line = node.line + 1
        if line > self.end[0]:  # an empty value at the very end of the file
            return Location(self.document.path, *self.end)
        return Location(self.document.path, line, node.col + 1)

    def _tick(self, node: _Node, depth: int) -> None:
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

    def value(self, node: _Node, path: JsonPath, depth: int) -> Any:
        self._tick(node, depth)
        # An alias stands where it is used; what it expands to points at the anchor.
        self.document.locations[path] = self._location(node)
        if isinstance(node, _Alias):
            node = node.target
        if isinstance(node, _Scalar):
            return self._scalar(node, path)
        if isinstance(node, _Seq):
            return [
                self.value(item, (*path, index), depth + 1) for index, item in enumerate(node.items)
            ]
        assert isinstance(node, _Map)
        result: dict[str, Any] = {}
        for key, (key_node, value_node) in self._pairs(node, depth).items():
            child = (*path, key)
            self.document.key_locations[child] = self._location(key_node)
            result[key] = self.value(value_node, child, depth + 1)
        return result

    def _pairs(self, node: _Map, depth: int) -> dict[str, tuple[_Node, _Node]]:
        """Keys of a mapping with ``<<`` merges applied: own keys win, then earlier merges."""
        self._tick(node, depth)
        own: dict[str, tuple[_Node, _Node]] = {}
        merged: dict[str, tuple[_Node, _Node]] = {}
        for key_node, value_node in node.pairs:
            key_target = key_node.target if isinstance(key_node, _Alias) else key_node
            if isinstance(key_target, _Scalar) and key_target.tag == MERGE_TAG:
                for source in self._merge_sources(value_node):
                    for key, pair in self._pairs(source, depth + 1).items():
                        merged.setdefault(key, pair)
                continue
            if not isinstance(key_target, _Scalar):
                self._problem(
                    f"a key must be plain text, not {_kind_of_node(key_target)}", key_node
                )
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

    def _merge_sources(self, node: _Node) -> list[_Map]:
        target = node.target if isinstance(node, _Alias) else node
        if isinstance(target, _Map):
            return [target]
        if isinstance(target, _Seq):
            sources: list[_Map] = []
            for item in target.items:
                item_target = item.target if isinstance(item, _Alias) else item
                if isinstance(item_target, _Map):
                    sources.append(item_target)
                else:
                    self._problem("a << merge list may only hold mappings", item)
            return sources
        self._problem("a << merge key needs a mapping or a list of mappings", node)
        return []

    def _scalar(self, node: _Scalar, path: JsonPath) -> Any:
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
        self._problem(f"unsupported YAML tag {_shown_tag(tag)}; remove it", node)
        return node.value

    def _problem(self, message: str, node: _Node) -> None:
        self.document.problems.append(Problem(message, self._location(node)))


def _shown_tag(tag: str) -> str:
    """A tag as it is usually written: ``!!set`` rather than ``tag:yaml.org,2002:set``."""
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _construct(node: _Scalar) -> Any:
    yaml_node = yaml.ScalarNode(node.tag, node.value)
    if node.tag == BOOL_TAG:
        return _CONSTRUCTOR.construct_yaml_bool(yaml_node)
    if node.tag == INT_TAG:
        return _CONSTRUCTOR.construct_yaml_int(yaml_node)
    return _CONSTRUCTOR.construct_yaml_float(yaml_node)
