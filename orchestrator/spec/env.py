"""``${VAR}`` and ``${VAR:-default}`` in string values, filled from the environment.

``$${`` stands for a literal ``${``. As in the shell, the default also applies
when the variable is set but empty. A reference to an unset variable without a
default is left in the text as written, so the caller can report it and skip
the checks that its missing value would fail.

Where a value stands decides which commands need its variables (``dial_only``):
a value that only a dial request carries is needed by apply alone; one that
says which conference and calls are the file's, or that plan, status and down
compare or act on, is needed by every command that talks to the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from orchestrator.spec.model import JsonPath

_TOKEN: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_BODY: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_WHOLE_SECRET_REFERENCE: Final = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-)?\}")

# Participant settings (in defaults, a role or a participant) that only the dial request
# carries; plan and status compare them only with the local record, and skip one they
# cannot know. The others (muted, hold, coach, end_conference_on_exit), like a participant's
# name, to and role, are what plan and status compare with the live call or down acts on.
DIAL_ONLY_SETTINGS: Final = frozenset(
    {
        "from",
        "caller_id",
        "timeout",
        "time_limit",
        "beep",
        "start_conference_on_enter",
        "early_media",
        "wait_url",
        "record",
        "recording",
        "machine_detection",
        "status_callback",
        "sip_auth",
        "preferred_codecs",
        "custom_headers",
        "retry",
        "reconnect",
    }
)
# The conference's settings every dial carries; its name and sid say which conference it is.
DIAL_ONLY_CONFERENCE: Final = frozenset(
    {
        "application_sid",
        "from",
        "max_participants",
        "wait_url",
        "status_callback",
        "record",
        "recording",
    }
)


@dataclass(frozen=True)
class Expansion:
    text: str
    has_reference: bool  # the text named at least one variable
    unset: tuple[str, ...] = ()  # variables without a value or default, in order of use
    error: str | None = None  # a malformed reference; the text is then left as written


def expand(text: str, env: Mapping[str, str]) -> Expansion:
    if "$" not in text:
        return Expansion(text, has_reference=False)
    pieces: list[str] = []
    unset: list[str] = []
    has_reference = False
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token == "$${":
            pieces.append("${")
            continue
        body = match.group(1)
        if body is None:
            return Expansion(
                text,
                has_reference=True,
                error="'${' without a closing '}'; write ${NAME} or $${ for a literal ${",
            )
        parsed = _BODY.fullmatch(body)
        if parsed is None:
            return Expansion(
                text,
                has_reference=True,
                error=f"'${{{body}}}' is not a variable reference; write ${{NAME}} or ${{NAME:-default}}",
            )
        has_reference = True
        name, default = parsed.group(1), parsed.group(2)
        value = env.get(name)
        if value:
            pieces.append(value)
        elif default is not None:
            pieces.append(default)
        elif value is not None:
            pieces.append(value)  # set but empty, and no default: empty it is
        else:
            if name not in unset:
                unset.append(name)
            pieces.append(token)
    pieces.append(text[position:])
    return Expansion("".join(pieces), has_reference=has_reference, unset=tuple(unset))


def is_reference_only(text: str) -> bool:
    """True for ``${NAME}`` or ``${NAME:-}``: a secret taken from the environment, none written."""
    return _WHOLE_SECRET_REFERENCE.fullmatch(text) is not None


def dial_only(path: JsonPath) -> bool:
    """Whether the value at ``path`` is read only to dial (so only apply needs its variables)."""
    match path:
        case ("conference", str(key), *_):
            return key in DIAL_ONLY_CONFERENCE
        case ("defaults", str(key), *_) | ("roles", str(), str(key), *_):
            return key in DIAL_ONLY_SETTINGS
        case ("participants", int(), str(key), *_):
            return key in DIAL_ONLY_SETTINGS
    return False
