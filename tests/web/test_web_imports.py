"""The import page (issue #5 §5): upload, mapping, dry-run preview, background run, report."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.imports.models import ImportRun, ImportStatus

ClientFor = Callable[[User], Client]

CSV = ("客户编号,姓名,手机,城市\n"
       "C001,张伟,13800138000,上海\n"
       "C002,,13900001111,北京\n"
       "C003,王芳,13700002222,广州\n").encode()


@pytest.fixture(autouse=True)
def _tasks_run_at_once(settings: Settings, tmp_path: Path) -> None:
    """The worker is the test itself: the immediate backend runs a task when it is enqueued."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "QUEUES": ["default"]}}
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(client: Client, content: bytes = CSV, name: str = "客户.csv") -> str:
    response = client.post(reverse("import_start"), {
        "kind": "customers", "file": SimpleUploadedFile(name, content, "text/csv")})
    assert response.status_code == 302, response.content
    match = re.search(r"/imports/([0-9a-f]{32})/", response["Location"])
    assert match
    return match.group(1)


def test_a_manager_uploads_previews_and_imports_with_an_error_report(
    manager: User, client_for: ClientFor
) -> None:
    client = client_for(manager)
    # Given Mei uploads a customer list with Chinese headers and one row without a name
    token = _upload(client)

    # When she opens the mapping step, the importer's proposal is preselected
    html = client.get(reverse("import_mapping", args=[token])).content.decode()
    assert re.search(r'<option value="external_id" selected>', html)
    assert re.search(r'<option value="name" selected>', html)

    # And the dry run shows the rejected row and why, without storing anything
    mapping = {"col_0": "external_id", "col_1": "name", "col_2": "phone", "col_3": "city"}
    html = client.post(reverse("import_mapping", args=[token]),
                       {**mapping, "preview": "1"}).content.decode()
    assert "3 rows read: 2 would be created, 0 updated, 1 rejected." in html
    assert "C002" in html
    assert "_reason" in html
    assert not Customer.objects.exists()
    assert not ImportRun.objects.exists()

    # When she starts the import it runs as a task, and the progress page shows it finished
    response = client.post(reverse("import_mapping", args=[token]), {**mapping, "start": "1"})
    assert response.status_code == 302
    run = ImportRun.objects.get()
    assert (run.status, run.created, run.rejected, run.progress) == (
        ImportStatus.PARTIAL, 2, 1, 1.0)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张伟", "王芳"]
    fragment = client.get(reverse("import_progress", args=[token]), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 286  # htmx stops polling
    assert "Download the error report" in fragment.content.decode()

    # And the error report downloads with the rejected row
    report = client.get(reverse("import_report", args=[token]))
    body = b"".join(report.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    assert "C002" in body
    assert "C001" not in body


def test_the_mapping_can_be_changed_by_hand(manager: User, client_for: ClientFor) -> None:
    client = client_for(manager)
    token = _upload(client)
    # When Mei ignores the city column, it is not imported
    client.post(reverse("import_mapping", args=[token]), {
        "col_0": "external_id", "col_1": "name", "col_2": "phone", "col_3": "-", "start": "1"})
    assert set(Customer.objects.values_list("city", flat=True)) == {""}
    # And one field from two columns is refused
    response = client.post(reverse("import_mapping", args=[token]), {
        "col_0": "external_id", "col_1": "name", "col_2": "name", "col_3": "-", "preview": "1"})
    assert "name is mapped from two columns" in response.content.decode()


def test_only_admins_and_managers_import(
    rep1: User, admin: User, manager: User, analyst: User, client_for: ClientFor
) -> None:
    assert client_for(rep1).get(reverse("import_start")).status_code == 403
    assert client_for(analyst).get(reverse("import_start")).status_code == 403
    assert client_for(admin).get(reverse("import_start")).status_code == 200
    # A manager's upload is not another manager's, but an administrator may follow it
    token = _upload(client_for(manager))
    other = User.objects.create_user("zhou", role="manager")
    assert client_for(other).get(reverse("import_mapping", args=[token])).status_code == 404
    assert client_for(admin).get(reverse("import_mapping", args=[token])).status_code == 200
    assert client_for(rep1).post(reverse("score_now")).status_code == 403
    # And someone signed out is sent to sign in first
    response = Client().get(reverse("import_start"))
    assert response["Location"] == "/login/?next=/imports/"


def test_an_unreadable_file_is_explained(manager: User, client_for: ClientFor) -> None:
    client = client_for(manager)
    token = _upload(client, content=b"\x00\x01\x02", name="junk.xlsx")
    response = client.get(reverse("import_mapping", args=[token]))
    assert response.status_code == 422
    assert 'role="alert"' in response.content.decode()


def test_score_now_runs_scoring_as_a_task(
    manager: User, rep1: User, client_for: ClientFor
) -> None:
    from guanxi.customers.services import customer_create
    from guanxi.value.models import RunStatus, ScoreRun

    # Given a customer without purchases and no scoring run yet
    customer_create(actor=rep1, name="张伟", owner=rep1)
    client = client_for(manager)
    # When Mei presses "Score now" (the immediate backend runs the task at once)
    response = client.post(reverse("score_now"))
    # Then she is back on the dashboard, told that scoring runs in the background
    assert response["Location"] == "/?scoring=1"
    assert "Scoring runs in the background" in client.get(response["Location"]).content.decode()
    # And the task ran the value engine, which recorded its run (here: nothing to learn from)
    run = ScoreRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "No purchases" in run.error


def test_the_preview_of_a_long_file_reads_its_first_rows(
    manager: User, client_for: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guanxi.web import import_pages

    client = client_for(manager)
    rows = "".join(f"C{n:04d},客户{n},,上海\n" for n in range(10))
    token = _upload(client, content=("客户编号,姓名,手机,城市\n" + rows).encode("gbk"))
    mapping = {"col_0": "external_id", "col_1": "name", "col_2": "phone", "col_3": "city"}
    monkeypatch.setattr(import_pages, "PREVIEW_LINES", 4)
    html = client.post(reverse("import_mapping", args=[token]),
                       {**mapping, "preview": "1"}).content.decode()
    # A GBK file cut to its first 4 rows still reads as Chinese, and the page says it was cut
    assert "4 rows read: 4 would be created, 0 updated, 0 rejected." in html
    assert "The preview read the first 4 rows" in html
