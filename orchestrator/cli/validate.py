"""``orchestrator validate`` and ``orchestrator schema``."""

from __future__ import annotations

import click

from orchestrator.report.diagnostics import DIAGNOSTIC_REPORTERS, exit_code
from orchestrator.spec import load_specs, schema_text


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Choice(list(DIAGNOSTIC_REPORTERS)),
    default="text",
    show_default=True,
    help="text for people, json for scripts, github for GitHub Actions annotations.",
)
@click.option(
    "--strict-env",
    is_flag=True,
    help="Treat an unset ${VAR} without a default as an error, as apply does.",
)
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], output: str, strict_env: bool) -> None:
    """Check conference files (and every *.yaml / *.yml in directories) without calling the API.

    ${VAR} references are filled from the environment; an unset one is a
    warning (an error with --strict-env).

    \b
    Exit codes:
      0  all valid (warnings allowed)
      1  any error
      2  usage error
    """
    result = load_specs(list(paths), strict_env=strict_env)
    click.echo(DIAGNOSTIC_REPORTERS[output](result), nl=False)
    ctx.exit(exit_code(result))


@click.command("schema")
def schema() -> None:
    """Print the JSON Schema of conference files (draft 2020-12)."""
    click.echo(schema_text(), nl=False)
