"""``guanxi demo`` and ``guanxi serve`` from the command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guanxi.accounts.models import User
from guanxi.cli.main import app
from guanxi.customers.models import Customer
from guanxi.sales.models import Order

runner = CliRunner()


def passwords(output: str) -> dict[str, str]:
    """The user → password rows of the table ``guanxi demo`` prints at the end."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) == 3 and cells[0] in {"admin", "manager", "rep1", "rep2", "agent",
                                             "analyst"}:
            found[cells[0]] = cells[2]
    return found


def test_demo_without_serving_builds_the_company_and_prints_the_logins(db: None) -> None:
    # When a new user runs the demo without the server
    result = runner.invoke(app, ["demo", "--no-serve", "--customers", "200"])

    # Then it succeeds, the company is there, and each printed password lets its user in
    assert result.exit_code == 0, result.output
    assert Customer.objects.count() == 200
    assert Order.objects.exists()
    logins = passwords(result.output)
    assert set(logins) == {"admin", "manager", "rep1", "rep2", "agent", "analyst"}
    for username, password in logins.items():
        assert User.objects.get(username=username).check_password(password), username
    assert "http://127.0.0.1:8000/login/" in result.output


def test_demo_again_keeps_the_company_and_resets_the_passwords(db: None) -> None:
    runner.invoke(app, ["demo", "--no-serve", "--no-score", "--customers", "200"])
    orders = Order.objects.count()

    again = runner.invoke(app, ["demo", "--no-serve", "--no-score", "--customers", "500"])

    assert again.exit_code == 0, again.output
    assert "already present" in again.output
    assert Customer.objects.count() == 200
    assert Order.objects.count() == orders
    logins = passwords(again.output)
    assert User.objects.get(username="rep1").check_password(logins["rep1"])


def test_demo_reset_regenerates_from_another_seed(db: None) -> None:
    runner.invoke(app, ["demo", "--no-serve", "--no-score", "--customers", "200"])

    result = runner.invoke(app, ["demo", "--no-serve", "--no-score", "--customers", "300",
                                 "--seed", "5", "--reset"])

    assert result.exit_code == 0, result.output
    assert Customer.objects.count() == 300


def test_unknown_locale_is_one_clear_sentence(db: None) -> None:
    result = runner.invoke(app, ["demo", "--no-serve", "--customers", "200", "--locale", "fr"])
    assert result.exit_code != 0
    assert Customer.objects.count() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.mark.slow
def test_serve_runs_the_site_with_static_files_and_stops_on_sigterm(tmp_path: Path) -> None:
    # Given a fresh data directory (SQLite: this test must not migrate a shared database)
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"GUANXI_DATABASE_URL", "GUANXI_TEST_DB_NAME"}}
    env["GUANXI_DATA_DIR"] = str(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "guanxi", "serve", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        # When the server has started
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/login/")
                break
            except OSError:
                time.sleep(0.3)
        # Then the login page and a collected static file are served
        assert status == 200
        css_status, css = _get(f"http://127.0.0.1:{port}/static/admin/css/base.css")
        assert css_status == 200
        assert b"{" in css
        assert (tmp_path / "static" / "admin" / "css" / "base.css").exists()
    finally:
        # And SIGTERM stops the server and its children cleanly
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output.decode(errors="replace")
    assert b"Starting gunicorn" in output
