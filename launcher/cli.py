"""The `tunecost` command: one typer app; the commands live in launcher/commands/, registered in `_register`.

Command modules import heavy libraries (pandas, sky, torch) inside their functions, so `tunecost plan` starts
fast. Every user-fixable error (UserError, a refused pydantic value, a click usage error such as a bad number)
becomes one line `error: ...` on stderr and exit code 2, however the app is invoked (console script or tests).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from tunecost.launcher.commands.common_options import PlainFlagsCommand, plain_flags
from tunecost.planner.errors import UserError, from_validation

try:  # typer >= 0.22 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors


def fail(message: str, code: int = 2) -> None:
    """Print one clear line to stderr and exit; used for every user-fixable error."""
    from tunecost.launcher.views.safe_text import clean

    sys.stderr.write(f"error: {clean(message)}\n")  # it may quote a tag, a path, a cell: never raw to a terminal
    raise SystemExit(code)


def _usage_message(err: click_errors.UsageError) -> str:
    """click's own message, except a refused date: it says what a date looks like, not strptime codes."""
    param = getattr(err, "param", None)
    message = str(getattr(err, "message", "")).removeprefix("Value error, ")
    value, found, _ = message.partition(" does not match the format")  # typer's own datetime parsing
    if isinstance(err, click_errors.BadParameter) and found and param is not None:
        from tunecost.launcher.commands.common_options import DATE_HINT

        flag = param.opts[0] if param.opts else param.name
        return f"{flag} {value} is not a date; use {DATE_HINT}, e.g. {flag} 2026-11-01"
    return err.format_message().replace("Value error, ", "")  # a flag's parser refused it: its reason alone


class OneLineErrors(TyperGroup):
    """Runs click non-standalone so that no error leaves as a traceback or a multi-line usage box."""

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_flags(super().get_params(ctx))

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except UserError as err:
            fail(str(err))
        except ValidationError as err:
            fail(str(from_validation(err)))
        except click_errors.UsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # bare `tunecost`: the help is the answer
                sys.stdout.write(err.format_message())
                sys.exit(0)
            fail(_usage_message(err), err.exit_code)
        except click_errors.ClickException as err:
            fail(err.format_message(), err.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            fail("interrupted", 130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="tunecost",
    help="What will this fine-tune cost, where, and how long? Then run it there.",
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command and group
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from tunecost import __version__

        sys.stdout.write(f"tunecost {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit"),
) -> None:
    """What will this fine-tune cost, where, and how long? Then run it there."""


def _register() -> None:
    """Every command, named here once: the command modules declare functions and know nothing of the app."""
    from tunecost.launcher.commands import demo, launch, plan, prices, report, stop
    from tunecost.launcher.commands.common_options import checked_number_flags

    command = functools.partial(app.command, cls=PlainFlagsCommand)
    command("plan")(plan.plan)
    command("estimate")(plan.estimate)
    app.add_typer(prices.prices_app, name="prices", cls=OneLineErrors)
    command("launch")(launch.launch)
    command("runs")(launch.runs)
    command("stop")(stop.stop)
    command("report")(report.report)
    command("calibrate")(report.calibrate_cmd)
    command("demo")(demo.demo)
    checked_number_flags(app)


_register()


def main() -> None:
    app()
