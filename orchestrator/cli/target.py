"""Where a command's requests go, and the files it acts on, loaded and grouped by connection.

plan, status, apply and down share this: ``--sandbox [--scenario]`` or the
connection options and environment select the API; the files are validated in
full before any request; files are grouped by account so each group shares one
client. A ``${VAR}`` that only dial requests use need not be set but for apply
(``Undialable``). With ``-o json`` a command's error prints its report's
envelope too (``JSON_REPORT``, printed where errors become exit codes).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import click

from orchestrator.cli import JSON_REPORT
from orchestrator.cli.options import F, connection_options, sandbox_options
from orchestrator.engine.inspect import Inspection, inspect
from orchestrator.engine.state import StateStore
from orchestrator.errors import SpecError, UsageError
from orchestrator.spec.model import ConferenceSpec, Diagnostic, Participant, Severity
from orchestrator.texml.connection import Connection, resolve_connection

# What a command does about a participant whose dial needs a variable that is not set: apply
# refuses to run (it would dial it), plan names it, status and down do not dial.
Undialable = Literal["refuse", "name", "ignore"]


@dataclass(frozen=True)
class Target:
    """The API a command talks to, as its options and environment say."""

    env: Mapping[str, str]
    sandbox: bool = False
    scenario: str | None = None
    api_key_file: str | None = None
    base_url: str | None = None


def target_options(function: F) -> F:
    """--sandbox, --scenario, --api-key-file, --base-url and -v, handed to the command as
    ``target``."""

    @functools.wraps(function)
    def command(
        *args: Any,
        sandbox: bool,
        scenario: str | None,
        api_key_file: str | None,
        base_url: str | None,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        if kwargs.get("output") == "json":
            # Any error from here on prints the report's envelope as well.
            context = click.get_current_context()
            context.meta[JSON_REPORT] = "dry-run" if kwargs.get("dry_run") else context.info_name
        if scenario is not None and not sandbox:
            # Without --sandbox the command would run against TELNYX_BASE_URL: a user who
            # believes they run a drill must not reach the real API.
            raise UsageError(
                "--scenario is for the sandbox: add --sandbox, or drop --scenario to use the API"
            )
        if verbose:
            log_requests()
        target = Target(dict(os.environ), sandbox, scenario, api_key_file, base_url)
        return function(*args, target=target, **kwargs)

    command = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Log every API request on stderr (method, path, status, time, rate-limit headers).",
    )(command)
    return sandbox_options(connection_options(command))  # type: ignore[return-value]


def log_requests() -> None:
    """One stderr line per API request; the key never appears in them."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("request: %(message)s"))
    log = logging.getLogger("orchestrator.requests")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False


@dataclass(frozen=True)
class Loaded:
    """The files, in the order given, and the same files by the connection of their account."""

    specs: list[ConferenceSpec]
    by_connection: dict[Connection, list[ConferenceSpec]]
    env: Mapping[str, str]  # what the files were expanded with (with --sandbox, its settings)


def to_stderr(line: str) -> None:
    click.echo(line, err=True)


def load_for_run(
    paths: tuple[str, ...],
    env: Mapping[str, str],
    *,
    strict_env: bool = True,
    undialable: Undialable = "refuse",
    say: Callable[[str], None] = to_stderr,
) -> list[ConferenceSpec]:
    """Load and fully validate the files; any error stops the run before a request is sent.

    An unset ``${VAR}`` is an error, unless only dial requests use it: then each
    participant whose dial needs it is an error (``undialable="refuse"``), a warning
    (``"name"``) or nothing (``"ignore"``). ``strict_env=False`` (offline commands): any
    unset ``${VAR}`` is a warning, and stays in the text as ``${VAR}``. Warnings and errors
    go to ``say`` (a live display's notices while it is drawn).
    """
    from orchestrator.report.words import plural
    from orchestrator.spec import load_specs

    result = load_specs(list(paths), env=env, strict_env=strict_env, defer_dial_only=True)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    for diagnostic in result.diagnostics:
        say(str(diagnostic))
    blocked: list[Diagnostic] = []
    if strict_env and undialable != "ignore":
        severity: Severity = "error" if undialable == "refuse" else "warning"
        blocked = [
            cannot_dial(participant, severity)
            for spec in result.specs
            for participant in spec.participants
            if participant.unset
        ]
        for diagnostic in blocked:
            say(str(diagnostic))
    if errors:
        files = len({d.location.file for d in errors})
        raise SpecError(
            f"{plural(len(errors), 'error')} in {plural(files, 'file')}; no request was sent. "
            "Fix them (orchestrator validate shows them too) and run again",
            tuple(errors + [d for d in blocked if d.severity == "error"]),
        )
    if undialable == "refuse" and blocked:
        raise SpecError(
            f"{plural(len(blocked), 'participant')} cannot be dialed without variables that "
            "are not set; nothing was sent. Set them and run again (plan, status and down run "
            "without them)",
            tuple(blocked),
        )
    return list(result.specs)


def cannot_dial(participant: Participant, severity: Severity) -> Diagnostic:
    """One line for a participant whose dial needs unset variables, at the first one's use."""
    first = participant.unset[0].location
    uses = [
        f"environment variable {u.name} is not set (used in {u.where}"
        + ("" if u.location == first else f" at {u.location}")
        + ")"
        for u in participant.unset
    ]
    message = f"{participant.name} cannot be dialed: {'; '.join(uses)}"
    if severity == "warning":
        message += f"; apply refuses to run without {'it' if len(uses) == 1 else 'them'}"
    return Diagnostic(first, severity, message)


@contextlib.asynccontextmanager
async def open_target(
    paths: tuple[str, ...],
    target: Target,
    *,
    undialable: Undialable = "refuse",
    say: Callable[[str], None] = to_stderr,
) -> AsyncIterator[Loaded]:
    """The files loaded against the target; with --sandbox, one runs in-process meanwhile.
    What it has to say on the way (warnings, the sandbox's address) goes to ``say``;
    ``undialable`` as ``load_for_run`` takes it."""
    async with _environment(target, say) as (env, sandbox_connection):
        specs = load_for_run(paths, env, undialable=undialable, say=say)
        groups: dict[Connection, list[ConferenceSpec]] = {}
        for spec in specs:
            # One connection per account; files naming none use the environment's.
            connection = sandbox_connection or resolve_connection(
                env=env,
                api_key_file=target.api_key_file,
                base_url=target.base_url,
                account_sid=spec.account_sid,
            )
            groups.setdefault(connection, []).append(spec)
        yield Loaded(specs, groups, env)


@contextlib.asynccontextmanager
async def _environment(
    target: Target, say: Callable[[str], None]
) -> AsyncIterator[tuple[Mapping[str, str], Connection | None]]:
    """The environment to expand files with and, with --sandbox, the in-process sandbox's connection."""
    if not target.sandbox:
        yield target.env, None
        return
    from orchestrator.sandbox import load_scenario, running_sandbox
    from orchestrator.secret import Secret
    from orchestrator.webhooks.signing import PUBLIC_KEY_ENV

    loaded = load_scenario(target.scenario) if target.scenario else None
    # The command's output is the point here; the request log belongs to `orchestrator sandbox`.
    logging.getLogger("orchestrator.sandbox").setLevel(logging.ERROR)
    async with running_sandbox(loaded) as info:
        say(f"sandbox: simulated TeXML API at {info.base_url}; no real calls are placed")
        overlay = {
            **target.env,
            "TELNYX_BASE_URL": info.base_url,
            "TELNYX_API_KEY": info.api_key,
            "TELNYX_ACCOUNT_SID": info.account_sid,
            PUBLIC_KEY_ENV: info.public_key,
        }
        yield overlay, Connection(info.base_url, Secret(info.api_key), info.account_sid)


async def inspect_files(
    paths: tuple[str, ...],
    target: Target,
    store: StateStore,
    *,
    prune: bool = False,
    redial_changed: bool = False,
    recordings: bool = False,
    undialable: Undialable = "refuse",
) -> list[Inspection]:
    """Every file against its live conference, in the order given; nothing is changed."""
    async with open_target(paths, target, undialable=undialable) as loaded:
        by_path = await inspect(
            loaded.by_connection,
            store,
            prune=prune,
            redial_changed=redial_changed,
            recordings=recordings,
        )
    return [by_path[spec.path] for spec in loaded.specs]
