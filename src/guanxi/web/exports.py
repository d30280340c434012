"""Customer exports (CSV and Excel) that obey the same contact-details rule as the pages.

CSV is streamed row by row, so a large export never sits in memory; an Excel workbook is
built whole, so its size is capped (``XLSX_MAX_ROWS``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, LifecycleStage
from guanxi.customers.selectors import can_see_contact_details

XLSX_MAX_ROWS = 100_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"^\+\d{6,15}$")


def _cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text that starts like a formula is quoted.

    A phone number in E.164 form (+86...) starts with "+" but is no formula; it stays as is.
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _E164.match(value):
        return "'" + value
    return value


def header(user: User) -> list[str]:
    names = [_("id"), _("name")]
    if can_see_contact_details(user):
        names += [_("phone"), _("e-mail")]
    names += [_("city"), _("owner"), _("lifecycle stage"), _("value tier"), _("RFM segment"),
              _("lifetime value"), _("last purchase")]
    return [str(n) for n in names]


def rows(user: User, customers: Iterable[Customer]) -> Iterator[list[Any]]:
    contact = can_see_contact_details(user)
    for c in customers:
        row: list[Any] = [c.pk, c.name]
        if contact:
            row += [c.phone, c.email]
        # The day of the last purchase in the company's time zone, not UTC's.
        last = (timezone.localtime(c.last_purchase_at).date().isoformat()
                if c.last_purchase_at else "")
        # The latest score (``customer.value``); never scored reads as a prospect, no tier.
        value = getattr(c, "value", None)
        if value is None:
            scores: list[Any] = [str(LifecycleStage.PROSPECT.label), "", "", ""]
        else:
            scores = [value.get_lifecycle_stage_display(), value.get_value_tier_display(),
                      value.rfm_segment, "" if value.clv is None else str(value.clv)]
        row += [c.city, c.owner.username if c.owner else "", *scores, last]
        yield [_cell(v) for v in row]


def _filename(ext: str) -> str:
    return f'attachment; filename="customers-{timezone.localtime():%Y%m%d-%H%M}.{ext}"'


class _Line:
    """The file-like object csv.writer needs, handing each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_response(user: User, customers: Iterable[Customer]) -> StreamingHttpResponse:
    writer = csv.writer(_Line())

    def lines() -> Iterator[str]:
        # The BOM makes Excel read the UTF-8 Chinese names correctly.
        yield "\ufeff" + writer.writerow(header(user))
        for row in rows(user, customers):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = _filename("csv")
    return response


def xlsx_response(user: User, customers: Iterable[Customer]) -> HttpResponse:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(str(_("customers")))
    sheet.append(header(user))
    for row in rows(user, customers):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(out.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = _filename("xlsx")
    return response


def table_csv_response(columns: list[str], rows: Iterable[list[Any]]) -> HttpResponse:
    """A small table (a dashboard chart's rows) as a UTF-8 CSV that Excel opens with Chinese
    intact (the BOM), cells made formula-safe like the customer export's."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([_cell(c) for c in columns])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
