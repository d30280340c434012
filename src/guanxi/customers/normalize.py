"""Normalization of contact data, shared by forms, the API and imports."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u3400-\u9fff]")


def normalize_phone(raw: str, region: str | None = None) -> str:
    """Return the E.164 form of ``raw`` or raise ValueError with a reason a person understands.

    Numbers without a country code are read in the company's region (CN by default), so
    ``138 0013 8000`` becomes ``+8613800138000``.
    """
    raw = raw.strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region or settings.GUANXI_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = raw.strip().lower()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValueError(f"not an e-mail address: {raw!r}") from exc
    return value


@lru_cache(maxsize=65536)
def name_pinyin(name: str) -> tuple[str, str]:
    """Return (full pinyin, initials) of the Chinese characters in ``name``, lower case.

    ``张伟`` gives ``("zhangwei", "zw")``; a name without Chinese characters gives ``("", "")``
    (Latin names are searched as they are).
    """
    if not _HAN.search(name):
        return "", ""
    full = "".join(lazy_pinyin(name, style=Style.NORMAL, errors="ignore")).lower()
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")).lower()
    return full, initials
