"""``${VAR}`` and ``${VAR:-default}`` in string values, filled from the environment.

``$${`` stands for a literal ``${``. As in the shell, the default also applies
when the variable is set but empty. A reference to an unset variable without a
default is left in the text as written, so the caller can report it and skip
the checks that its missing value would fail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

_TOKEN: Final = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_BODY: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_WHOLE_SECRET_REFERENCE: Final = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-)?\}")


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
