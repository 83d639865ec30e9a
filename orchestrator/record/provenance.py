"""What a run was made from: the command line without secrets, each file's digest and commit.

A postmortem asks which version of the file dialed: the SHA-256 of the bytes read says it
exactly; when the file is tracked by git, the commit checked out and whether the file differed
from it say where to find that version.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.masking import shown_url
from orchestrator.reading import Unreadable, read_bounded
from orchestrator.yamlfile import MAX_FILE_BYTES

GIT_TIMEOUT_S = 5.0


def scrubbed_argv(argv: Sequence[str]) -> list[str]:
    """The arguments as given, but any URL shown without its credentials or query.

    The API key never is an argument (it comes from the environment or --api-key-file, whose
    path is no secret); a --base-url or a URL argument may carry a password or a token."""
    shown = []
    for arg in argv:
        option, equals, value = arg.partition("=")
        if equals and option.startswith("--") and "://" in value:
            shown.append(f"{option}={shown_url(value)}")
        elif "://" in arg:
            shown.append(shown_url(arg))
        else:
            shown.append(arg)
    return shown


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_of(path: Path) -> dict[str, Any] | None:
    """The commit checked out where ``path`` is tracked, and whether the file differs from it;
    None when it is not tracked by git (or git is not there)."""
    folder = path.parent
    if _git(folder, "ls-files", "--error-unmatch", "--", path.name) is None:
        return None
    commit = _git(folder, "rev-parse", "HEAD")
    status = _git(folder, "status", "--porcelain", "--", path.name)
    if commit is None:
        return None
    return {"commit": commit.strip(), "modified": bool(status and status.strip())}


def file_facts(path: str) -> dict[str, Any]:
    """One file of the run: its path as given, its SHA-256, and its git commit."""
    facts: dict[str, Any] = {"path": path, "sha256": None, "git": None}
    try:
        facts["sha256"] = hashlib.sha256(read_bounded(path, MAX_FILE_BYTES)).hexdigest()
    except Unreadable as error:
        facts["unreadable"] = error.reason
        return facts
    facts["git"] = git_of(Path(path).resolve())
    return facts
