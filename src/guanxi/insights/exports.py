"""The prospect ranking as CSV or Excel: one table, to a file (CLI) or an HTTP response.

Cells that a spreadsheet would read as a formula are quoted (``web.exports._cell``'s rule);
the CSV starts with a BOM so Excel reads the Chinese names as UTF-8. An Excel workbook is
built whole, so it is capped at ``XLSX_MAX_ROWS`` rows (the CSV is not).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

XLSX_MAX_ROWS = 100_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    return csv_bytes(header, rows)


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([_cell(c) for c in header])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *,
               sheet: str = "prospects") -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append([str(c) for c in header])
    for row in rows[:XLSX_MAX_ROWS]:
        ws.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write ``rows`` to ``path``; the suffix (.csv or .xlsx) chooses the format."""
    data = xlsx_bytes(header, rows) if path.suffix.lower() == ".xlsx" else \
        csv_bytes(header, rows)
    path.write_bytes(data)


def table_response(fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
                   *, name: str = "prospects") -> HttpResponse:
    stamp = f"{timezone.localtime():%Y%m%d-%H%M}"
    if fmt == "xlsx":
        response = HttpResponse(xlsx_bytes(header, rows), content_type=XLSX_TYPE)
    else:
        fmt = "csv"
        response = HttpResponse(csv_bytes(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{fmt}"'
    return response
