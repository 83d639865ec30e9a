"""The node tree of one YAML document, composed from the parser's events within caps of its own.

PyYAML's composer keeps positions but hides where aliases were used, gives no
way to count the values an alias expands into, and stops deep nesting only at
its own limit (which differs between versions), so :func:`compose` builds its
own small tree from the parser's events, iteratively: scalars with their
resolved tags, sequences, mappings (pairs in order, duplicates kept) and
aliases that point at their anchor's node. It refuses, as a
:class:`LoadProblem`, nesting deeper than MAX_DEPTH, more than MAX_NODES keys
and values as written, a number longer than MAX_NUMBER_CHARS, a collection
tag other than the standard ones, an alias without its anchor and a second
document. ``orchestrator.yamlfile`` walks the tree into plain values.
"""

from __future__ import annotations

from typing import Any, Final

import yaml
import yaml.resolver

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

TAG_PREFIX: Final = "tag:yaml.org,2002:"
STR_TAG: Final = TAG_PREFIX + "str"
NULL_TAG: Final = TAG_PREFIX + "null"
BOOL_TAG: Final = TAG_PREFIX + "bool"
INT_TAG: Final = TAG_PREFIX + "int"
FLOAT_TAG: Final = TAG_PREFIX + "float"
MERGE_TAG: Final = TAG_PREFIX + "merge"
_SEQ_TAGS: Final = frozenset({None, "!", TAG_PREFIX + "seq"})
_MAP_TAGS: Final = frozenset({None, "!", TAG_PREFIX + "map"})


class LoadProblem(Exception):
    """The file cannot be read as one YAML mapping at all; nothing else can be checked."""

    def __init__(self, message: str, line: int = 1, col: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


class Node:
    """Where a node starts: 0-based line and column, as the parser marks them."""

    __slots__ = ("col", "line")

    def __init__(self, line: int, col: int) -> None:
        self.line = line
        self.col = col


class Scalar(Node):
    __slots__ = ("plain", "tag", "value")

    def __init__(self, line: int, col: int, value: str, tag: str, plain: bool) -> None:
        super().__init__(line, col)
        self.value = value
        self.tag = tag
        self.plain = plain


class Seq(Node):
    __slots__ = ("items",)

    def __init__(self, line: int, col: int) -> None:
        super().__init__(line, col)
        self.items: list[Node] = []


class Map(Node):
    __slots__ = ("key", "pairs")

    def __init__(self, line: int, col: int) -> None:
        super().__init__(line, col)
        self.pairs: list[tuple[Node, Node]] = []
        self.key: Node | None = None  # a key waiting for its value while composing


class Alias(Node):
    __slots__ = ("target",)

    def __init__(self, line: int, col: int, target: Node) -> None:
        super().__init__(line, col)
        self.target = target


def kind_of(node: Node) -> str:
    if isinstance(node, Seq):
        return "a list"
    if isinstance(node, Scalar):
        return "a single value" if node.value else "an empty value"
    return "a mapping"


def shown_tag(tag: str) -> str:
    """A tag as it is usually written: ``!!set`` rather than ``tag:yaml.org,2002:set``."""
    return "!!" + tag[len(TAG_PREFIX) :] if tag.startswith(TAG_PREFIX) else tag


def compose(text: str, what: str) -> Node | None:
    """Build the node tree of the single document in ``text`` from parser events; ``what``
    names the file's content ("conference") for the messages."""
    composer = _Composer(what)
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            step = _STEPS.get(type(event))
            if step is not None:
                step(composer, event)
    except yaml.MarkedYAMLError as error:
        raise _syntax_problem(error) from None
    except yaml.reader.ReaderError as error:
        line, col = _position_of_char(text, error.position)
        character = error.character
        shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
        raise LoadProblem(f"invalid YAML: character {shown} is not allowed", line, col) from None
    except yaml.YAMLError as error:
        raise LoadProblem(f"invalid YAML: {_one_line(str(error))}") from None
    return composer.root


class _Composer:
    """The tree so far: the collections still open, the anchors seen, and the counts."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.root: Node | None = None
        self.stack: list[Seq | Map] = []
        self.nodes = 0
        self.documents = 0
        self.anchors: dict[str, Node] = {}
        self.open_anchors: dict[int, str] = {}  # id(collection) -> anchor, while it is open

    def attach(self, node: Node) -> None:
        """Put a new node where the parser is: the root, a list item, a key or its value."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise LoadProblem(
                f"more than {MAX_NODES} keys and values; refusing to read further",
                node.line + 1,
                node.col + 1,
            )
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, Seq):
            parent.items.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.pairs.append((parent.key, node))
            parent.key = None

    def scalar(self, event: Any) -> None:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolve_tag(event.value, event.implicit)
        if len(event.value) > MAX_NUMBER_CHARS and tag in (INT_TAG, FLOAT_TAG):
            raise _problem_at(
                event,
                f"a number longer than {MAX_NUMBER_CHARS} characters; no setting takes "
                "one (quote it if it is text)",
            )
        mark = event.start_mark
        node = Scalar(mark.line, mark.column, event.value, tag, bool(event.implicit[0]))
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        self.attach(node)

    def open(self, event: Any) -> None:
        """A list or mapping starts; it takes what follows until its end event."""
        if len(self.stack) >= MAX_DEPTH:
            raise _problem_at(event, f"nested more than {MAX_DEPTH} levels deep")
        is_seq = type(event) is yaml.SequenceStartEvent
        if event.tag not in (_SEQ_TAGS if is_seq else _MAP_TAGS):
            raise _problem_at(event, f"unsupported YAML tag {shown_tag(event.tag)}; remove it")
        mark = event.start_mark
        collection = Seq(mark.line, mark.column) if is_seq else Map(mark.line, mark.column)
        if event.anchor is not None:
            self.open_anchors[id(collection)] = event.anchor
        self.attach(collection)
        self.stack.append(collection)

    def close(self, event: Any) -> None:
        """A list or mapping ends: from here on its anchor, if any, names it."""
        finished = self.stack.pop()
        anchor = self.open_anchors.pop(id(finished), None)
        if anchor is not None:
            self.anchors[anchor] = finished

    def alias(self, event: Any) -> None:
        name = event.anchor
        target = self.anchors.get(name)
        if target is None:
            if name in self.open_anchors.values():
                raise _problem_at(event, f"alias *{name} refers to the collection that contains it")
            raise _problem_at(event, f"alias *{name} has no anchor &{name} before it")
        mark = event.start_mark
        self.attach(Alias(mark.line, mark.column, target))

    def document(self, event: Any) -> None:
        self.documents += 1
        if self.documents > 1:
            raise _problem_at(
                event,
                f"more than one YAML document (---) in the file; put one {self.what} in each file",
            )


# What each parser event does to the tree; the others (stream and document ends) do nothing.
_STEPS: Final = {
    yaml.ScalarEvent: _Composer.scalar,
    yaml.SequenceStartEvent: _Composer.open,
    yaml.MappingStartEvent: _Composer.open,
    yaml.SequenceEndEvent: _Composer.close,
    yaml.MappingEndEvent: _Composer.close,
    yaml.AliasEvent: _Composer.alias,
    yaml.DocumentStartEvent: _Composer.document,
}


def _problem_at(event: Any, message: str) -> LoadProblem:
    """A problem where the parser's event starts (1-based)."""
    mark = event.start_mark
    return LoadProblem(message, mark.line + 1, mark.column + 1)


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


def _position_of_char(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _one_line(text: str) -> str:
    return " ".join(text.split())
