"""The README and docs/ hold only examples that work: YAML that the readers take, command
lines that parse, links that lead somewhere.

A YAML block is a conference file that must validate, unless an HTML comment on the line
before its fence says otherwise (docs/README.md lists the markers); a file a console block
shows with ``$ cat`` must read as a conference or a scenario file. Every ``orchestrator``
command line of a console or sh block is parsed by the command line itself, and every
relative link must name a file that exists, and a heading of it when it names one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from orchestrator.cli import cli
from orchestrator.cli.signals import release
from orchestrator.errors import ScenarioError
from orchestrator.sandbox.scenario_file import load_scenario
from orchestrator.spec import load_specs

ROOT = Path(__file__).resolve().parent.parent

# Pages linked before they are written: a link to one passes while it is missing, and is
# checked like any other once it exists.
PAGES_TO_COME: frozenset[str] = frozenset()

MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<kind>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
COPY = re.compile(r"^copy of (?P<path>\S+)$")
COMMAND_LANGS = frozenset({"console", "sh", "shell", "bash"})
CONTROL = frozenset({";", "&&", "||", "|", "&", "(", ")"})


@dataclass(frozen=True)
class Block:
    """A fenced block of a Markdown page, its text dedented to the fence."""

    page: Path
    line: int  # the opening fence's, 1-based
    lang: str
    text: str
    marker: str | None  # what the comment on the line before the fence says, if any

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Example:
    """A YAML example: a block, or a file a console block shows with ``$ cat``."""

    where: str
    kind: str  # conference, scenario, error, fragment, either, or "copy of PATH"
    text: str


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path, text: str | None = None) -> list[Block]:
    lines = (page.read_text(encoding="utf-8") if text is None else text).split("\n")
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence) and not closing.strip(fence[0]):
                break
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        marker = MARKER.match(lines[index - 1]) if index else None
        found.append(
            Block(
                page=page,
                line=index + 1,
                lang=opening["lang"],
                text="\n".join(body) + "\n",
                marker=marker["kind"] if marker else None,
            )
        )
        index = end + 1
    return found


def examples(page_blocks: list[Block]) -> Iterator[Example]:
    for block in page_blocks:
        if block.lang == "yaml":
            yield Example(block.where, block.marker or "conference", block.text)
        elif block.lang == "console":
            yield from _catted(block)


def _catted(block: Block) -> Iterator[Example]:
    """The files a console block prints with ``$ cat FILE.yaml``: the lines up to the next prompt."""
    lines = block.text.split("\n")
    for number, line in enumerate(lines):
        if re.match(r"^\$ cat \S+\.ya?ml$", line):
            shown = []
            for following in lines[number + 1 :]:
                if following.startswith("$ "):
                    break
                shown.append(following)
            where = f"{block.where} (+{number + 1})"
            yield Example(where, "either", "\n".join(shown).rstrip("\n") + "\n")


def check_example(example: Example, folder: Path) -> list[str]:
    """What is wrong with an example; nothing when it is what its marker says."""
    path = folder / "example.yaml"
    path.write_text(example.text, encoding="utf-8")
    copy = COPY.match(example.kind)
    if copy:
        original = ROOT / copy["path"]
        if not original.is_file():
            return [f"{copy['path']} does not exist"]
        if original.read_text(encoding="utf-8") != example.text:
            return [f"differs from {copy['path']}"]
        return _conference_problems(path)
    if example.kind == "conference":
        return _conference_problems(path)
    if example.kind == "scenario":
        return _scenario_problems(path)
    if example.kind == "either":
        conference = _conference_problems(path)
        scenario = _scenario_problems(path)
        return [] if not conference or not scenario else [*conference, *scenario]
    if example.kind == "error":
        return [] if _conference_problems(path) else ["marked as an error, but it validates"]
    if example.kind == "fragment":
        try:
            yaml.safe_load(example.text)
        except yaml.YAMLError as error:
            return [f"not YAML: {error}"]
        return []
    return [f"unknown marker 'example: {example.kind}'"]


def _conference_problems(path: Path) -> list[str]:
    result = load_specs([path])
    return [f"{d.location.line}:{d.location.col}: {d.message}" for d in result.errors]


def _scenario_problems(path: Path) -> list[str]:
    try:
        load_scenario(path)
    except ScenarioError as error:
        return [str(error)]
    return []


def command_lines(page_blocks: list[Block]) -> Iterator[tuple[str, list[str]]]:
    """Each ``orchestrator`` command of a console block's prompts or an sh block's lines."""
    for block in page_blocks:
        if block.lang not in COMMAND_LANGS:
            continue
        for number, line in enumerate(block.text.split("\n")):
            if block.lang == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            for argv in simple_commands(line):
                if argv and argv[0] == "orchestrator":
                    yield f"{block.where} (+{number + 1})", argv[1:]


def simple_commands(line: str) -> list[list[str]]:
    """A shell line cut into its simple commands, without redirections or leading
    ``NAME=value`` assignments (``a && b; c | d > f`` is a, b, c and d)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    redirected = False
    for token in lexer:
        if token in CONTROL:
            commands.append([])
        elif redirected:
            redirected = False
        elif token[0] in "<>":
            redirected = True  # the next word is the redirection's target
        elif commands[-1] or not re.match(r"^[A-Za-z_]\w*=", token):
            commands[-1].append(token)
    return [command for command in commands if command]


def parse_command_line(args: list[str]) -> None:
    """Parse ``orchestrator ARGS`` as the command line would, running nothing; raises
    click's error for an unknown command or option, a missing or bad value, a missing
    argument."""
    if not args:
        return  # the bare command: what shell completion runs
    ctx = cli.make_context("orchestrator", list(args))
    try:
        command: click.Command = cli
        while isinstance(command, click.Group):
            # click 8.2 keeps a group's subcommand and what follows it apart from ctx.args
            protected = vars(ctx).get("_protected_args", vars(ctx).get("protected_args", []))
            rest = [*protected, *ctx.args]
            if not rest:
                ctx.fail("Missing command.")
            name, found, rest = command.resolve_command(ctx, rest)
            assert name is not None and found is not None
            ctx = found.make_context(name, rest, parent=ctx)
            command = found
    finally:
        release(ctx.find_root())  # apply's signal handlers, installed as its name resolves


def links(page: Path, text: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, target) of every inline link outside code."""
    source = page.read_text(encoding="utf-8") if text is None else text
    prose = _blank_code(source)
    for match in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose):
        yield prose.count("\n", 0, match.start()) + 1, match.group(1)


def _fenced_lines(text: str) -> set[int]:
    """The 0-based numbers of the lines of fenced blocks, fences included."""
    fenced: set[int] = set()
    for block in blocks(Path("page.md"), text):
        fenced.update(range(block.line - 1, block.line + block.text.count("\n") + 1))
    return fenced


def _blank_code(text: str) -> str:
    """The text with fenced blocks and code spans blanked out, every offset kept."""
    fenced = _fenced_lines(text)
    lines = text.split("\n")
    kept = "\n".join(" " * len(line) if n in fenced else line for n, line in enumerate(lines))
    return re.sub(
        r"(`+).+?(?<!`)\1(?!`)",
        lambda span: re.sub(r"[^\n]", " ", span.group(0)),
        kept,
        flags=re.DOTALL,
    )


def anchors(page: Path) -> set[str]:
    """The heading anchors a forge makes of a page: lower case, punctuation dropped, spaces
    as hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    text = page.read_text(encoding="utf-8")
    fenced = _fenced_lines(text)  # a "# comment" in a shell block is no heading
    for number, line in enumerate(text.split("\n")):
        heading = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading is None or number in fenced:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen.setdefault(f"{slug}-{count}", 1)
    return set(seen)


def is_relative(target: str) -> bool:
    return not (re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"))


def check_link(page: Path, target: str) -> str | None:
    """What is wrong with a relative link from ``page``; None when it leads somewhere."""
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    try:
        relative = destination.relative_to(ROOT).as_posix()
    except ValueError:
        return f"{target}: outside the repository"
    if not destination.exists():
        return None if relative in PAGES_TO_COME else f"{target}: no such file"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{target}: {relative} has no heading #{anchor}"
    return None


ALL_BLOCKS = [block for page in pages() for block in blocks(page)]
EXAMPLES = list(examples(ALL_BLOCKS))
COMMANDS = list(command_lines(ALL_BLOCKS))
LINKS = [
    (page, line, target) for page in pages() for line, target in links(page) if is_relative(target)
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.where for example in EXAMPLES])
def test_every_yaml_example_is_what_it_says(example: Example, tmp_path: Path) -> None:
    assert check_example(example, tmp_path) == [], f"{example.where} ({example.kind})"


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_every_command_line_parses(
    where: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Options such as --scenario take only a file that exists; the pages name files the
    # reader writes first (drill.yaml), so each is made, empty, in a folder of its own.
    monkeypatch.chdir(tmp_path)
    for word in args:
        if re.search(r"\.ya?ml$", word):
            (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / word).touch()
    try:
        parse_command_line(args)
    except click.ClickException as error:
        pytest.fail(f"{where}: orchestrator {shlex.join(args)}: {error.format_message()}")


@pytest.mark.parametrize(
    ("page", "line", "target"),
    LINKS,
    ids=[f"{page.relative_to(ROOT)}:{line}:{target}" for page, line, target in LINKS],
)
def test_every_relative_link_leads_somewhere(page: Path, line: int, target: str) -> None:
    problem = check_link(page, target)
    assert problem is None, f"{page.relative_to(ROOT)}:{line}: {problem}"


def test_every_marker_stands_before_a_yaml_block() -> None:
    misplaced = []
    for page in pages():
        lines = page.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines):
            if MARKER.match(line):
                following = FENCE.match(lines[number + 1]) if number + 1 < len(lines) else None
                if following is None or following["lang"] != "yaml":
                    misplaced.append(f"{page.relative_to(ROOT)}:{number + 1}")
    assert misplaced == []


def test_the_pages_are_all_read() -> None:
    # The quickstart's first command, an example of each marker in use, a link into docs/.
    assert ("README.md:17 (+1)", ["apply", "examples/incident-bridge.yaml", "--sandbox"]) in [
        (where, args) for where, args in COMMANDS
    ]
    assert {"conference", "scenario", "fragment", "either"} <= {e.kind for e in EXAMPLES}
    assert any(e.kind.startswith("copy of ") for e in EXAMPLES)
    assert any(target.startswith("docs/") for _, _, target in LINKS)


# The checks themselves, on pages made up here: each must catch what it is for.

BROKEN_PAGE = """\
# A page

<!-- example: scenario -->
```yaml
time_scale: fast
```

```yaml
version: 1
conference: {name: x, from: "+12065550200"}
participants:
  - {name: a, to: "+12065550100", tiemout: 30}
```

<!-- example: error -->
```yaml
version: 1
conference: {name: x, application_sid: "1", from: "+12065550200"}
participants:
  - {name: a, to: "+12065550100"}
```

```console
$ orchestrator apply x.yaml --sandbx
$ orchestrator aply x.yaml
$ orchestrator plan x.yaml -o yaml; echo done
$ orchestrator webhooks lissen
$ orchestrator status
```

See [the commands](commands.md#orchestrator-hangup-path) and [nothing](no-such-page.md).
"""


def test_the_checks_catch_broken_examples(tmp_path: Path) -> None:
    page = ROOT / "docs" / "broken.md"
    page_blocks = blocks(page, BROKEN_PAGE)
    found = {example.kind: check_example(example, tmp_path) for example in examples(page_blocks)}
    assert "time_scale" in found["scenario"][0]
    assert any("tiemout" in problem for problem in found["conference"])
    assert found["error"] == ["marked as an error, but it validates"]

    refused = []
    for _, args in command_lines(page_blocks):
        with pytest.raises(click.ClickException):
            parse_command_line(args)
        refused.append(args[0])
    assert refused == ["apply", "aply", "plan", "webhooks", "status"]

    problems = [check_link(page, target) for _, target in links(page, BROKEN_PAGE)]
    assert problems == [
        "commands.md#orchestrator-hangup-path: docs/commands.md has no heading "
        "#orchestrator-hangup-path",
        "no-such-page.md: no such file",
    ]


def test_the_command_lines_of_a_shell_line() -> None:
    assert simple_commands(
        'orchestrator plan f.yaml --detailed-exitcode; echo "exit $?"  # a comment'
    ) == [["orchestrator", "plan", "f.yaml", "--detailed-exitcode"], ["echo", "exit $?"]]
    assert simple_commands("python -m pip install . && orchestrator apply f.yaml --sandbox") == [
        ["python", "-m", "pip", "install", "."],
        ["orchestrator", "apply", "f.yaml", "--sandbox"],
    ]
    assert simple_commands("_ORCHESTRATOR_COMPLETE=fish_source orchestrator > ~/o.fish") == [
        ["orchestrator"]
    ]
