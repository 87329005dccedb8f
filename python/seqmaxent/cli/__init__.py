"""The seqmaxent command line: one module per command, over the Python API.

The numerical modules are imported by the commands that use them, so that the command line starts
at once and handles Ctrl-C and SIGTERM from its first instant.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..interrupts import describe, exit_code, ignore_further, stop_on_sigterm
from .compare import compare
from .demo import demo
from .inspect import inspect
from .logos import logos
from .merge import merge
from .motifs import motifs
from .report import report
from .sample import sample
from .summarize import summarize
from .variants import variants


def _print_version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ..network import runtime

    click.echo(f"seqmaxent {__version__}\ncore kernels {runtime.kernels()}\nONNX Runtime {runtime.version()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version, the core's kernel level and ONNX Runtime's version.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Maximum-entropy sampling of what a DNA network has learned (Finnegan & Song 2017)."""
    ctx.obj = {"debug": debug}


for command in (inspect, sample, merge, summarize, variants, logos, motifs, report, compare, demo):
    cli.add_command(command)


def main() -> None:
    """Entry point: one-line errors (exit 1) unless --debug."""
    debug = "--debug" in sys.argv[1:]
    try:
        with stop_on_sigterm():
            cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        ignore_further()
        if isinstance(e.__cause__ or e.__context__, EOFError):  # click turns an EOFError into Abort
            click.echo(f"error: an input ended early (truncated file?): {e.__cause__ or e.__context__}", err=True)
            sys.exit(1)
        click.echo(describe(e) if isinstance(e, KeyboardInterrupt) else "interrupted", err=True)
        sys.exit(exit_code(e) if isinstance(e, KeyboardInterrupt) else 130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except Exception as e:
        if (stop := _stop_behind(e)) is not None:  # a library that wraps the KeyboardInterrupt (an import's init)
            ignore_further()
            click.echo(describe(stop), err=True)
            sys.exit(exit_code(stop))
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


def _stop_behind(e: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM in an exception's chain of causes, if any."""
    seen = set()
    while e is not None and not isinstance(e, KeyboardInterrupt) and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return e if isinstance(e, KeyboardInterrupt) else None
