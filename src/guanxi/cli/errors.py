from __future__ import annotations

import sys

import typer

from guanxi.core.errors import GuanxiError


def run_app(app: typer.Typer) -> int:
    try:
        # Without standalone mode click *returns* the code of a `typer.Exit(n)` (a command's
        # own return value otherwise), so it must be passed on, not dropped.
        rc = app(standalone_mode=False)
    except GuanxiError as exc:
        typer.secho(f"Error: {exc.message}", err=True, fg=typer.colors.RED)
        return 2
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
        if "--debug" in sys.argv:
            raise
        return 1
    return rc if isinstance(rc, int) else 0
