"""Open CSV, TSV and XLSX files and stream their rows, whatever tool wrote them.

``read_rows(path)`` yields ``(line_number, {header: value})`` one row at a time, so memory stays
flat however large the file. Text files are decoded as UTF-8 (with or without the BOM Excel
writes) or GBK/GB18030 (what Excel and WPS on a Chinese Windows write), detected from a sample;
the delimiter (comma, tab, semicolon, bar) is taken from the header line. Workbooks are read
with openpyxl in read-only (streaming) mode; their cells keep their types (a date cell is a
``datetime``, a number an ``int`` or ``float``) and ``parsing`` understands both.

A file that cannot be read at all raises one ``ImportFileError`` with a sentence saying why,
before any row is returned.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from charset_normalizer import from_bytes

from guanxi.imports.errors import ImportErrorCode, ImportFileError

__all__ = ["FORMATS", "TableReader", "open_table", "read_rows", "text_layout"]

FORMATS = ("auto", "csv", "tsv", "xlsx", "cdnow", "cdnow-sample")

_SAMPLE_SIZE = 256 * 1024
_DELIMITERS = (",", "\t", ";", "|")
_HAN = re.compile(r"[\u3400-\u9fff]")
# Gigantic cells are a sign of a binary or broken file, but a long remark is not.
csv.field_size_limit(16 * 1024 * 1024)

Row = dict[str, Any]


class TableReader:
    """An open file: ``headers``, then iterate for ``(line, row)``; ``position()`` / ``size``
    measure progress (bytes for text files, rows for workbooks)."""

    headers: list[str]
    size: int

    def __iter__(self) -> Iterator[tuple[int, Row]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def position(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _unique_headers(raw: list[Any]) -> list[str]:
    headers: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(raw):
        name = "" if value is None else str(value).strip().lstrip("\ufeff")
        name = name or f"column_{i + 1}"
        candidate, n = name, 2
        while candidate in seen:
            candidate = f"{name}_{n}"
            n += 1
        seen.add(candidate)
        headers.append(candidate)
    return headers


def _unreadable(path: Path, why: str) -> ImportFileError:
    return ImportFileError(ImportErrorCode.UNREADABLE_FILE,
                           f"Cannot read {path.name}: {why}. Nothing was imported.")


def _detect_encoding(path: Path, sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # An incremental decoder forgives a character cut in half at the end of the sample.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Short Chinese samples are where detectors guess wrong most (Big5, Shift-JIS...); GB18030
    # is a superset of GB2312 and GBK, so when it decodes to Chinese text, it is the answer.
    try:
        text = codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        if _HAN.search(text):
            return "gb18030"
    except UnicodeDecodeError:
        pass
    best = from_bytes(sample).best()
    if best is None:
        raise _unreadable(path, "it is not text in an encoding guanxi recognizes "
                          "(UTF-8 or GBK/GB18030)")
    encoding = best.encoding.lower().replace("_", "")
    if encoding in {"gb2312", "gbk", "gb18030", "hz"}:
        return "gb18030"
    return best.encoding


class _TextReader(TableReader):
    def __init__(self, path: Path, delimiter: str | None) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._raw: BinaryIO = path.open("rb")
        try:
            sample = self._raw.read(_SAMPLE_SIZE)
            if b"\x00" in sample and not sample.startswith(
                    (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise _unreadable(path, "it is a binary file, not CSV, TSV or XLSX")
            encoding = _detect_encoding(path, sample)
            self._raw.seek(0)
            self._text = io.TextIOWrapper(self._raw, encoding=encoding, newline="")
            self.encoding = encoding
            first = self._first_line(sample, encoding)
            self.delimiter = delimiter or max(_DELIMITERS, key=first.count)
            self._reader = csv.reader(self._text, delimiter=self.delimiter)
            self._last_line = 0
            header: list[str] = []
            for _line, record in self._records():
                if any(cell.strip() for cell in record):
                    header = record
                    break
            if not header:
                raise ImportFileError(ImportErrorCode.EMPTY_FILE,
                                      f"{path.name} is empty: it has no header line.")
            self.headers = _unique_headers(header)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _first_line(sample: bytes, encoding: str) -> str:
        text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
        return text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        try:
            for record in self._reader:
                start = self._last_line + 1
                self._last_line = self._reader.line_num
                yield start, record
        except UnicodeDecodeError:
            raise _unreadable(self.path, f"it is not valid {self.encoding} text after line "
                              f"{self._last_line}") from None
        except csv.Error as exc:
            raise _unreadable(self.path, f"line {self._last_line + 1} is broken ({exc})") from None

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        headers = self.headers
        width = len(headers)
        for line, record in self._records():
            # A blank row is skipped; most rows start with a value, so only a row whose first
            # cell is blank is looked at whole (a generator per row cost a tenth of the parsing).
            if not (record and record[0].strip()) and not any(cell.strip() for cell in record):
                continue
            if len(record) < width:
                record = record + [""] * (width - len(record))
            yield line, dict(zip(headers, record, strict=False))

    def position(self) -> int:
        # The binary buffer's position runs a little ahead of the rows returned (read-ahead),
        # which is close enough for a progress bar.
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def text_layout(table: TableReader) -> tuple[Path, int, str, list[str]] | None:
    """For a UTF-8 text file whose header is its first line:
    ``(path, where the second line starts, delimiter, headers)``; else None.

    What the order import's fast lane (``columnar``) needs to read the rows from the bytes.
    """
    if not isinstance(table, _TextReader) or table.encoding not in ("utf-8", "utf-8-sig"):
        return None
    with table.path.open("rb") as raw:
        head = raw.read(_SAMPLE_SIZE)
    bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    end = head.find(b"\n", bom)
    if end < 0:
        return None
    try:
        first = head[bom:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        records = list(csv.reader([first], delimiter=table.delimiter))
    except csv.Error:
        return None
    if len(records) != 1 or _unique_headers(records[0]) != table.headers:
        return None  # blank lines before the header, or a line break inside it
    return table.path, end + 1, table.delimiter, table.headers


class _WorkbookReader(TableReader):
    def __init__(self, path: Path) -> None:
        import openpyxl

        self.path = path
        try:
            self._book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise _unreadable(path, "it is not a readable Excel workbook (.xlsx); it may be "
                              f"truncated or damaged ({type(exc).__name__})") from None
        try:
            if not self._book.worksheets:
                raise ImportFileError(ImportErrorCode.EMPTY_FILE,
                                      f"{path.name} has no worksheet.")
            sheet = self._book.worksheets[0]
            self.size = int(sheet.max_row or 0)
            self._rows = self._iter_sheet(sheet)
            self._line = 0
            header: tuple[Any, ...] = ()
            for _line, values in self._rows:
                if any(v is not None and str(v).strip() for v in values):
                    header = values
                    break
            if not header:
                raise ImportFileError(ImportErrorCode.EMPTY_FILE,
                                      f"{path.name} is empty: its first sheet has no header row.")
            while header and (header[-1] is None or not str(header[-1]).strip()):
                header = header[:-1]
            self.headers = _unique_headers(list(header))
        except BaseException:
            self.close()
            raise

    def _iter_sheet(self, sheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
        try:
            for index, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                self._line = index
                yield index, values
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as exc:
            raise _unreadable(self.path, f"the workbook is damaged after row {self._line} "
                              f"({type(exc).__name__})") from None

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        headers = self.headers
        for line, values in self._rows:
            row: Row = {}
            empty = True
            for name, value in zip(headers, values, strict=False):
                if isinstance(value, str):
                    value = value.strip()
                if value is not None and value != "":
                    empty = False
                row[name] = "" if value is None else value
            if empty:
                continue
            for name in headers[len(values):]:
                row[name] = ""
            yield line, row

    def position(self) -> int:
        return self._line

    def close(self) -> None:
        book = getattr(self, "_book", None)
        if book is not None:
            book.close()


CDNOW_HEADERS = ["order_id", "customer_id", "date", "number_of_cds", "dollar_value"]
CDNOW_SAMPLE_HEADERS = ["order_id", "customer_id", "sample_customer_id", "date",
                        "number_of_cds", "dollar_value"]


class _CdnowReader(TableReader):
    """The CDNOW files: whitespace separated, customer id, date YYYYMMDD, CDs, dollars.

    Each line becomes one order. Its id, ``cdnow-<customer>-<date>-<n>`` with ``n`` counting
    the lines of that customer on that day, is the same in the master file and in the 1/10th
    sample (which keeps all lines of the customers it samples), so importing either or both,
    once or again, stores each purchase once. The files are sorted by customer and date.
    """

    def __init__(self, path: Path, sample: bool) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.sample = sample
        self.headers = CDNOW_SAMPLE_HEADERS if sample else CDNOW_HEADERS
        self._raw: BinaryIO = path.open("rb")
        head = self._raw.read(4096)
        self._raw.seek(0)
        if b"\x00" in head:
            self.close()
            raise _unreadable(path, "it is a binary file, not the CDNOW text file")
        self._text = io.TextIOWrapper(self._raw, encoding="ascii", errors="replace")

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        width = len(self.headers) - 1
        last_key: tuple[str, str] | None = None
        n = 0
        for line, text in enumerate(self._text, start=1):
            parts = text.split()
            if not parts:
                continue
            if line == 1 and not parts[0].isdigit():
                continue  # the master file's header line
            values = parts[:width] + [""] * (width - len(parts))
            customer = values[0]
            day = values[2] if self.sample else values[1]
            key = (customer, day)
            n = n + 1 if key == last_key else 1
            last_key = key
            row: Row = dict(zip(self.headers[1:], values, strict=True))
            row["order_id"] = f"cdnow-{customer}-{day}-{n}"
            yield line, row

    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def open_table(path: Path | str, fmt: str = "auto") -> TableReader:
    """Open ``path`` and read its header; raise ``ImportFileError`` if it cannot be read."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ImportFileError(ImportErrorCode.UNKNOWN_FORMAT,
                              f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if not path.is_file():
        raise _unreadable(path, "there is no such file")
    if path.stat().st_size == 0:
        raise ImportFileError(ImportErrorCode.EMPTY_FILE, f"{path.name} is empty.")
    if fmt in ("cdnow", "cdnow-sample"):
        return _CdnowReader(path, sample=fmt == "cdnow-sample")
    with path.open("rb") as fh:
        magic = fh.read(8)
    suffix = path.suffix.lower()
    if fmt == "xlsx" or magic.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm"):
        if not magic.startswith(b"PK"):
            raise _unreadable(path, "it is not an Excel workbook (.xlsx), although its name "
                              "says so")
        return _WorkbookReader(path)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise _unreadable(path, "it is an old Excel .xls workbook; save it as .xlsx or CSV")
    delimiter = "\t" if fmt == "tsv" or suffix in (".tsv", ".tab") else None
    if fmt == "csv":
        delimiter = None
    return _TextReader(path, delimiter)


def read_rows(path: Path | str, fmt: str = "auto") -> Iterator[tuple[int, Row]]:
    """Stream ``(line_number, {header: raw value})`` from a CSV, TSV or XLSX file.

    Values are strings for text files; workbook cells keep their type (``datetime``, ``int``,
    ``float``, ``str``). Empty rows are skipped; the line number is the file's own (the header
    is line 1), so people can find the row in their spreadsheet.
    """
    with open_table(path, fmt) as table:
        yield from table
