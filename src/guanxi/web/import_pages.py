"""The import page (issue #5 §5): upload → proposed column mapping (editable) → dry-run preview
of the rejected rows → the import in the background, its progress polled, the error report.

An upload lives in ``MEDIA_ROOT/imports/<token>/`` with a small ``upload.json`` saying who
uploaded it and as what; only that person (or an administrator) may continue it. Long work
never runs inside the request: the real import is ``guanxi.imports.tasks.import_file_task``.
"""

from __future__ import annotations

import csv
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.accounts.models import User
from guanxi.core.errors import GuanxiError
from guanxi.imports.mapping import SYNONYMS, map_headers
from guanxi.imports.models import ImportRun
from guanxi.imports.readers import open_table
from guanxi.imports.selectors import can_import, import_runs
from guanxi.imports.tasks import import_file_task, importer_for
from guanxi.web.forms import ImportUploadForm, MappingForm

# The preview is a dry run inside the request, so it must stay short: a text file is cut to
# its first PREVIEW_LINES lines (bytes copied as they are, so a GBK file stays GBK); a workbook
# is previewed whole up to PREVIEW_MAX_BYTES, else not at all (the run's error report tells).
PREVIEW_LINES = 2000
PREVIEW_MAX_BYTES = 5 * 1024 * 1024
PREVIEW_ROWS = 50
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_TOKEN_CHARS = set("0123456789abcdef")


@dataclass(frozen=True)
class Upload:
    token: str
    folder: Path
    path: Path
    kind: str
    actor_id: int
    original_name: str

    @property
    def meta_path(self) -> Path:
        return self.folder / "upload.json"

    def read_meta(self) -> dict[str, Any]:
        data = json.loads(self.meta_path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def write_meta(self, **changes: Any) -> None:
        data = self.read_meta()
        data.update(changes)
        self.meta_path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise Http404
    return user


def _forbidden(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not can_import(_user(request)):
        return HttpResponseForbidden("Only administrators and managers may import data.")
    return None


def access_upload(*, user: User, token: str) -> Upload:
    """The upload ``token`` if ``user`` made it (or is an administrator); else 404."""
    if len(token) != 32 or not set(token) <= _TOKEN_CHARS:
        raise Http404
    folder = _root() / token
    try:
        meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise Http404 from None
    if meta.get("actor_id") != user.pk and not user.is_admin_role:
        raise Http404
    return Upload(token=token, folder=folder, path=folder / str(meta["file"]),
                  kind=str(meta["kind"]), actor_id=int(meta["actor_id"]),
                  original_name=str(meta["original_name"]))


def upload_save(*, user: User, kind: str, name: str, chunks: Any) -> Upload:
    """Store an uploaded file under a fresh token. The stored name starts with the token so the
    ``ImportRun`` (which records the file name) can be found again."""
    token = secrets.token_hex(16)
    folder = _root() / token
    folder.mkdir(parents=True)
    safe = Path(name).name.replace("\x00", "")[:180] or "upload"
    stored = f"{token[:8]}_{safe}"
    with (folder / stored).open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    (folder / "upload.json").write_text(json.dumps({
        "actor_id": user.pk, "kind": kind, "file": stored, "original_name": safe,
    }, ensure_ascii=False), encoding="utf-8")
    return Upload(token=token, folder=folder, path=folder / stored, kind=kind,
                  actor_id=user.pk, original_name=safe)


def _run_of(upload: Upload) -> ImportRun | None:
    return (ImportRun.objects.filter(file_name=upload.path.name[:255])
            .order_by("-started_at", "-pk").first())


def _report_rows(path: Path, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        return [], []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        rows = [row for _i, row in zip(range(limit), reader, strict=False)]
    return header, rows


@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    """Step 1: choose what the file holds and upload it; below, the recent imports."""
    if (denied := _forbidden(request)) is not None:
        return denied
    user = _user(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        file = form.cleaned_data["file"]
        upload = upload_save(user=user, kind=form.cleaned_data["kind"], name=file.name,
                             chunks=file.chunks())
        return redirect("import_mapping", token=upload.token)
    runs = import_runs(user=user).select_related("actor")[:20]
    return render(request, "web/imports/start.html", {"form": form, "runs": runs},
                  status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, token: str) -> HttpResponse:
    """Step 2 and 3: the proposed mapping (editable), and on "Preview" a dry run of the file."""
    if (denied := _forbidden(request)) is not None:
        return denied
    user = _user(request)
    upload = access_upload(user=user, token=token)
    try:
        with open_table(upload.path) as table:
            headers = list(table.headers)
    except GuanxiError as exc:
        return render(request, "web/imports/mapping.html",
                      {"upload": upload, "error": exc.message}, status=422)
    proposed = map_headers(headers, upload.kind)
    fields = list(SYNONYMS[upload.kind])
    form = MappingForm(request.POST or None, headers=headers, fields=fields, proposed=proposed)
    context: dict[str, Any] = {"upload": upload, "form": form, "headers": headers}
    if request.method == "POST" and form.is_valid():
        mapping = form.mapping()
        upload.write_meta(mapping=mapping)
        if "start" in request.POST:
            result = import_file_task.enqueue(path=str(upload.path), kind=upload.kind,
                                              actor_id=user.pk, mapping=mapping)
            upload.write_meta(task_id=str(result.id))
            return redirect("import_progress", token=upload.token)
        context["preview"] = _preview(upload, user, mapping)
    return render(request, "web/imports/mapping.html", context)


def _preview_file(upload: Upload) -> tuple[Path | None, bool]:
    """The file the preview reads and whether it is only the start of the upload."""
    size = upload.path.stat().st_size
    if upload.path.suffix.lower() in _TEXT_SUFFIXES:
        head = upload.folder / f"preview{upload.path.suffix.lower()}"
        cut = False
        with upload.path.open("rb") as src, head.open("wb") as dst:
            for n, line in enumerate(src):
                if n > PREVIEW_LINES:  # the header line plus PREVIEW_LINES rows
                    cut = True
                    break
                dst.write(line)
        return head, cut
    return (upload.path, False) if size <= PREVIEW_MAX_BYTES else (None, False)


def _preview(upload: Upload, user: User, mapping: dict[str, str]) -> dict[str, Any]:
    path, partial = _preview_file(upload)
    if path is None:
        return {"skipped": True}
    report = upload.folder / "preview.errors.csv"
    importer = importer_for(upload.kind)
    try:
        result = importer(path=path, actor=user, mapping=mapping, dry_run=True,
                          report_path=report)
    except GuanxiError as exc:
        return {"error": exc.message}
    header, rows = _report_rows(report)
    return {"result": result, "header": header, "rows": rows, "partial": partial,
            "lines": PREVIEW_LINES}


@require_GET
def import_progress(request: HttpRequest, token: str) -> HttpResponse:
    """Step 4: the run's progress; htmx polls the fragment every second until it is done."""
    if (denied := _forbidden(request)) is not None:
        return denied
    upload = access_upload(user=_user(request), token=token)
    run = _run_of(upload)
    context = {"upload": upload, "run": run,
               "done": run is not None and run.status != "running"}
    template = ("web/imports/_progress.html" if getattr(request, "htmx", False)
                else "web/imports/progress.html")
    response = render(request, template, context)
    if context["done"] and getattr(request, "htmx", False):
        # Stop polling: htmx honours 286 by cancelling the ``every 1s`` trigger.
        response.status_code = 286
    return response


@require_GET
def import_report(request: HttpRequest, token: str) -> HttpResponseBase:
    """The rejected rows of the finished run, as the CSV the import service wrote."""
    if (denied := _forbidden(request)) is not None:
        return denied
    upload = access_upload(user=_user(request), token=token)
    run = _run_of(upload)
    if run is None or not run.error_report:
        raise Http404
    path = Path(run.error_report).resolve()
    if upload.folder.resolve() not in path.parents or not path.is_file():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True,
                        filename=f"{Path(upload.original_name).stem}.errors.csv",
                        content_type="text/csv; charset=utf-8")


@require_POST
def score_now(request: HttpRequest) -> HttpResponse:
    """Enqueue a scoring run (managers and administrators); the dashboard refreshes after it."""
    if (denied := _forbidden(request)) is not None:
        return denied
    from guanxi.value.tasks import score_all_task

    score_all_task.enqueue()
    return redirect("/?scoring=1")
