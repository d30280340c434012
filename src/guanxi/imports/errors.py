"""Errors of the import domain.

    GuanxiError
    ├── ImportFileError          the file cannot be read at all (wrong type, truncated, binary)
    └── ValidationFailed
        └── ImportMappingError   the columns do not fit the target (missing, unknown, bad --map)

A single bad row is not an exception: it is a rejection in the error report.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from guanxi.core.errors import GuanxiError, ValidationFailed


class ImportErrorCode(StrEnum):
    UNREADABLE_FILE = "import_unreadable_file"
    EMPTY_FILE = "import_empty_file"
    MISSING_COLUMNS = "import_missing_columns"
    UNKNOWN_COLUMN = "import_unknown_column"
    UNKNOWN_FIELD = "import_unknown_field"
    BAD_MAP = "import_bad_map"
    UNKNOWN_FORMAT = "import_unknown_format"


class ImportFileError(GuanxiError):
    """The file cannot be read at all; nothing was imported."""

    http_status = 422

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised while the order import parses in another process, and sent from there.
        return type(self), (self.code, self.message), {"field": self.field}


class ImportMappingError(ValidationFailed):
    """The file's columns do not fit what the import needs."""
