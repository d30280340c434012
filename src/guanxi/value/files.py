"""Transactions from files, for ``guanxi value fit`` (no database needed).

Formats:

``cdnow``          CDNOW_master.txt: ``customer_id YYYYMMDD cds dollars``, whitespace-separated
``cdnow-sample``   CDNOW_sample.txt: ``master_id sample_id YYYYMMDD cds dollars``
``generic``        a CSV, TSV or XLSX with customer id, date and amount columns, mapped the way
                   the importer maps headers (``guanxi.imports``), Chinese or English
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from guanxi.core.errors import ValidationFailed
from guanxi.value.errors import ValueErrorCode

FileFormat = Literal["cdnow", "cdnow-sample", "generic"]


@dataclasses.dataclass
class FileTransactions:
    """Transactions with customers numbered 0..n-1; ``labels[i]`` is customer i's id in the file."""

    customer: npt.NDArray[np.int64]
    day: npt.NDArray[np.datetime64]
    amount: npt.NDArray[np.float64]
    labels: npt.NDArray[np.str_]


def _number(ids: list[str], days: list[Any], amounts: list[float]) -> FileTransactions:
    labels, inverse = np.unique(np.asarray(ids, dtype=str), return_inverse=True)
    return FileTransactions(customer=inverse.astype(np.int64),
                            day=np.asarray(days, dtype="datetime64[D]"),
                            amount=np.asarray(amounts, dtype=np.float64), labels=labels)


def _read_cdnow(path: Path, *, sample: bool) -> FileTransactions:
    ids: list[str] = []
    days: list[str] = []
    amounts: list[float] = []
    id_col, date_col, amount_col = (1, 2, 4) if sample else (0, 1, 3)
    with path.open(encoding="ascii", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                raw = parts[date_col]
                day = f"{raw[:4]}-{raw[4:6]}-{raw[6:8]}"
                np.datetime64(day, "D")
                amount = float(parts[amount_col])
            except (IndexError, ValueError):
                if number == 1:
                    continue  # a header line
                raise ValidationFailed(ValueErrorCode.INVALID_FILE,
                                       f"{path.name}, line {number}: not a CDNOW line.",
                                       field="file") from None
            ids.append(parts[id_col].lstrip("0") or "0")
            days.append(day)
            amounts.append(amount)
    return _number(ids, days, amounts)


_NOT_PURCHASES = {"refunded", "cancelled", "canceled", "退款", "已退款", "取消", "已取消"}


def _read_generic(path: Path) -> FileTransactions:
    # The importer's date parser reads the company time zone from the settings; no database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.config.settings")
    try:
        from guanxi.imports.mapping import map_headers
        from guanxi.imports.parsing import parse_amount, parse_datetime
        from guanxi.imports.readers import read_rows
    except ImportError:
        raise ValidationFailed(ValueErrorCode.INVALID_FILE,
                               "Reading generic files needs the importer (guanxi.imports), "
                               "which is not installed.", field="format") from None
    rows = read_rows(path)
    ids: list[str] = []
    days: list[Any] = []
    amounts: list[float] = []
    mapping: dict[str, str] | None = None
    for number, row in rows:
        if mapping is None:
            mapped = map_headers(list(row), target="orders")
            mapping = _invert(mapped)
            missing = [f for f in ("customer", "date", "amount") if f not in mapping]
            if missing:
                raise ValidationFailed(ValueErrorCode.INVALID_FILE,
                                       f"{path.name}: no column for {', '.join(missing)}.",
                                       field="file")
        try:
            cid = str(row[mapping["customer"]]).strip()
            when = parse_datetime(row[mapping["date"]])
            amount = parse_amount(row[mapping["amount"]])
        except (ValueError, ValidationFailed) as exc:
            raise ValidationFailed(ValueErrorCode.INVALID_FILE,
                                   f"{path.name}, line {number}: {exc}", field="file") from None
        status = str(row.get(mapping["status"], "")).strip().lower() if "status" in mapping else ""
        if not cid or when is None or amount is None or status in _NOT_PURCHASES:
            continue
        day = when.date() if isinstance(when, dt.datetime) else when
        ids.append(cid)
        days.append(np.datetime64(day, "D"))
        amounts.append(float(amount))
    if not ids:
        raise ValidationFailed(ValueErrorCode.INVALID_FILE, f"{path.name}: no rows.",
                               field="file")
    return _number(ids, days, amounts)


_FIELD_ALIASES = {
    "customer": ("customer", "customer_id", "customer_external_id", "customer_ref"),
    "date": ("date", "placed_at", "order_date", "purchased_at"),
    "amount": ("amount", "total", "order_total", "value"),
    "status": ("status",),
}


def _invert(mapped: Any) -> dict[str, str]:
    """{target field: header} from whatever ``map_headers`` returns ({header: field} or pairs)."""
    items = mapped.items() if isinstance(mapped, dict) else mapped
    by_field: dict[str, str] = {}
    for header, field in items:
        if field:
            by_field.setdefault(str(field), str(header))
    out: dict[str, str] = {}
    for ours, aliases in _FIELD_ALIASES.items():
        for alias in aliases:
            if alias in by_field:
                out[ours] = by_field[alias]
                break
    return out


def read_transactions(path: Path, fmt: FileFormat) -> FileTransactions:
    if not path.exists():
        raise ValidationFailed(ValueErrorCode.INVALID_FILE, f"No such file: {path}.",
                               field="file")
    if fmt == "cdnow":
        return _read_cdnow(path, sample=False)
    if fmt == "cdnow-sample":
        return _read_cdnow(path, sample=True)
    if fmt == "generic":
        return _read_generic(path)
    raise ValidationFailed(ValueErrorCode.INVALID_FILE,
                           f"Unknown format {fmt!r}; use cdnow, cdnow-sample or generic.",
                           field="format")
