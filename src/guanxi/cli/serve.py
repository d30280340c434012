"""``guanxi serve``: the production web server (gunicorn) and the background-task worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

import typer

STOP_GRACE_SECONDS = 10.0


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(2, "--workers", min=1, help="gunicorn worker processes."),
    worker: bool = typer.Option(True, "--worker/--no-worker",
                                help="Also run the background-task worker."),
) -> None:
    """Serve the web app with gunicorn (static files included) and run the task worker."""
    from guanxi.cli.main import setup_django

    setup_django()
    raise typer.Exit(run_server(host=host, port=port, workers=workers, with_worker=worker))


def prepare_site() -> None:
    """Bring the database up to date and collect static files (both safe to repeat)."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _gunicorn_command(host: str, port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "guanxi.config.wsgi:application",
               "--bind", _bind(host, port), "--workers", str(workers), "--access-logfile", "-"]
    from gunicorn.config import KNOWN_SETTINGS

    # Newer gunicorn opens a control socket at one fixed path in $HOME, which two servers on
    # one machine (a demo beside a test run) would fight over; we do not use it.
    if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS):
        command.append("--no-control-socket")
    return command


def run_server(*, host: str, port: int, workers: int = 2, with_worker: bool = True) -> int:
    """Run gunicorn (and the db task worker) as child processes until a signal or a crash.

    SIGINT and SIGTERM are passed on to the children, which get ``STOP_GRACE_SECONDS`` to
    finish their requests and tasks before they are killed. Returns the exit status: 0 after
    a requested stop, else the status of the child that stopped first.
    """
    prepare_site()
    env = os.environ.copy()
    env.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.config.settings")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    if with_worker:
        # --no-reload: a production worker must not restart half-way through a task.
        children.append(("worker", subprocess.Popen(
            [sys.executable, "-m", "django", "db_worker", "--no-reload"], env=env)))
    children.append(("web", subprocess.Popen(_gunicorn_command(host, port, workers), env=env)))
    url_host = f"[{host}]" if ":" in host else host
    typer.echo(f"guanxi is serving at http://{url_host}:{port}/ (Ctrl-C to stop)")

    requested: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        requested.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        while not requested:
            finished = [(name, p.returncode) for name, p in children if p.poll() is not None]
            if finished:
                name, code = finished[0]
                typer.secho(f"The {name} process stopped (exit status {code}); stopping.",
                            err=True, fg=typer.colors.RED)
                status = code or 1
                break
            time.sleep(0.2)
    finally:
        _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for _, process in children:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
