"""The ``orchestrator`` command line: a thin layer over functions that return results.

Subcommands live in their own modules and are imported only when invoked, so
``orchestrator --help`` stays fast. This module is the one place that turns
the project's exceptions into a one-line message and an exit code, and, for a
command run with ``-o json``, into its report's envelope on stdout with the
same exit code.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Final

import click

from orchestrator import __version__, exit_codes
from orchestrator.errors import OrchestratorError, UsageError

# name -> (module, attribute, one-line help shown by --help without importing the module),
# in the order of the workflow, which is how --help lists them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": (
        "orchestrator.cli.validate",
        "validate",
        "Check conference files against the schema and the rules.",
    ),
    "plan": (
        "orchestrator.cli.plan",
        "plan",
        "Show what apply would change in the live conferences.",
    ),
    "apply": (
        "orchestrator.cli.apply",
        "apply",
        "Dial every participant and report desired against observed.",
    ),
    "status": (
        "orchestrator.cli.status",
        "status",
        "Compare the live conferences with the files; change nothing.",
    ),
    "down": (
        "orchestrator.cli.down",
        "down",
        "Hang up the files' participants, or end the conferences.",
    ),
    "history": (
        "orchestrator.cli.history",
        "history",
        "List the runs kept in the local record, or show one (text, JSON, HTML, SVG).",
    ),
    "sandbox": (
        "orchestrator.cli.sandbox",
        "sandbox",
        "Run a local simulation of the TeXML Conferences API.",
    ),
    "webhooks": (
        "orchestrator.cli.webhooks",
        "webhooks",
        "Receive, verify and forward status callbacks (webhooks listen).",
    ),
    "schema": ("orchestrator.cli.validate", "schema", "Print the conference file JSON Schema."),
}

# Commands a signal stops with a summary rather than ends: their handlers are installed as
# soon as the command is known.
STOPS_ON_SIGNALS = frozenset({"apply"})


# In the context's meta: the command line as given (what a run's record says started it).
COMMAND_LINE: Final = "orchestrator.command_line"

# In the context's meta, set by a command run with -o json: the report whose envelope an
# error prints ("plan", "dry-run", ...), since a script reading stdout must get one.
JSON_REPORT: Final = "orchestrator.json_report"


def exit_code_for(error: OrchestratorError) -> int:
    return exit_codes.USAGE if isinstance(error, UsageError) else exit_codes.FAILED


def _report_error(ctx: click.Context, error: BaseException | str, code: int) -> None:
    """The error envelope on stdout, if the command reports JSON and has not printed one yet."""
    report = ctx.meta.pop(JSON_REPORT, None)
    if report is None:
        return
    from orchestrator.report.envelope import error_json, render_error

    click.echo(render_error(report, error_json(error), exit_code=code), nl=False)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[COMMAND_LINE] = list(args)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if cmd_name in STOPS_ON_SIGNALS:
            # Before its modules are imported: a signal from now on still ends the run with
            # its summary and report (see orchestrator.cli.signals).
            from orchestrator.cli.signals import install_early

            install_early(ctx)
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, _, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                from orchestrator.cli.signals import release

                release(ctx)  # the handlers get_command installed, if it did
        except OrchestratorError as error:
            click.echo(f"error: {error}", err=True)
            _report_error(ctx, error, exit_code_for(error))
            ctx.exit(exit_code_for(error))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            _report_error(ctx, "interrupted", exit_codes.INTERRUPTED)
            ctx.exit(exit_codes.INTERRUPTED)
        except click.exceptions.Exit:
            raise
        except click.exceptions.Abort:  # a question answered no: click says "Aborted!", exit 1
            _report_error(ctx, "aborted: nothing was changed", exit_codes.FAILED)
            raise
        except click.ClickException as error:
            _report_error(ctx, error.format_message(), error.exit_code)
            raise
        except Exception as error:  # a bug: say so in one line unless asked for the traceback
            if os.environ.get("ORCHESTRATOR_DEBUG"):
                raise
            line = (
                f"internal error: {type(error).__name__}: {error} "
                "(this is a bug; rerun with ORCHESTRATOR_DEBUG=1 for the traceback)"
            )
            click.echo(line, err=True)
            _report_error(ctx, line, exit_codes.FAILED)
            ctx.exit(exit_codes.FAILED)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
def cli() -> None:
    """Run phone conferences from version-controlled YAML.

    Validate conference files, see what would change, and dial everyone through
    Telnyx's TeXML Conferences API, or through the built-in sandbox (--sandbox).
    """


def main() -> None:
    cli(prog_name="orchestrator")
