"""Likely duplicate customers (MISSION M1: one unified view across sources).

Three signals, each cheap at the scale of a mid-size company (tens of thousands of customers):

- **same phone** and **same e-mail**: exact groups found by the database with ``GROUP BY``,
  so we never pull every customer into Python to compare contact details;
- **similar name in the same city**: names are compared with rapidfuzz, but only inside a
  *block* of customers that share the city, the kind and the name's initials. Chinese names are
  compared on their pinyin, so 张伟 and 张玮 (both ``zhangwei``) are found even though the
  characters differ; other names are compared lower-cased with their words sorted, so
  "Smith, John" meets "John Smith". Blocking keeps the fuzzy comparison far from O(n²) over the
  whole customer base; its price is that a typo in the first letter of a word goes unnoticed.

The signals combine like independent pieces of evidence (a "noisy or"): two signals of 90 give
99, never more than 100.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, QuerySet
from django.db.models.functions import Lower
from rapidfuzz import fuzz, process

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.customers.normalize import name_pinyin
from guanxi.customers.selectors import customers_visible

__all__ = ["DuplicatePair", "find_duplicates"]

# How much each signal alone says that two records are one customer (0–100).
PHONE_SCORE = 90
EMAIL_SCORE = 90
# An identical name in the same city is a hint, not proof: 张伟 is the most common name in China.
NAME_WEIGHT = 0.8

DEFAULT_MIN_SCORE = 70
MIN_NAME_RATIO = 60.0
DEFAULT_LIMIT = 200
# Rows of a block compared against the whole block at once: bounds the score matrix's memory.
_CHUNK = 1000

_WORD = re.compile(r"\w+")
_CITY_SUFFIX = re.compile(r"\s*(市|city)$", re.IGNORECASE)


@dataclass
class DuplicatePair:
    """Two customers that are probably one; ``a`` is the older record (the natural survivor)."""

    a: Customer
    b: Customer
    score: int
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Evidence:
    scores: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def add(self, score: float, reason: str) -> None:
        self.scores.append(score)
        self.reasons.append(reason)

    @property
    def score(self) -> int:
        # Noisy-or: the chance that every signal is wrong is the product of each being wrong.
        doubt = math.prod(1.0 - s / 100.0 for s in self.scores)
        return round(100.0 * (1.0 - doubt))


def _exact_groups(visible: QuerySet[Customer], column: str) -> Iterator[list[int]]:
    """Ids of visible customers sharing ``column`` (lower-cased), one list per shared value.

    The database finds the shared values; only the members of those groups come back.
    """
    key = f"_dup_{column}"
    keyed = visible.exclude(**{column: ""}).annotate(**{key: Lower(column)})
    shared = (keyed.values(key).annotate(n=Count("id")).filter(n__gt=1).values(key))
    rows = (keyed.filter(**{f"{key}__in": shared}).order_by(key, "pk")
            .values_list(key, "pk"))
    group: list[int] = []
    current: str | None = None
    # Not .iterator(): on PostgreSQL that is a server-side cursor, planned for a fast first row
    # (a nested loop over the subquery) instead of the hash join that takes milliseconds.
    for value, pk in rows:
        if value != current:
            if len(group) > 1:
                yield group
            group, current = [], value
        group.append(pk)
    if len(group) > 1:
        yield group


def _star(group: list[int]) -> Iterator[tuple[int, int]]:
    # Pair every member with the oldest one rather than with each other: merging each into the
    # oldest unifies the group, and a shared switchboard number does not flood the list with
    # n·(n−1)/2 pairs.
    first = group[0]
    for other in group[1:]:
        yield first, other


def _name_key(name: str, pinyin: str) -> tuple[str, str]:
    """(comparison text, blocking initials) for a name."""
    if pinyin:
        return pinyin, name_pinyin(name)[1]
    words = sorted(w.lower() for w in _WORD.findall(name))
    return " ".join(words), "".join(w[0] for w in words)


def _city_key(city: str) -> str:
    return _CITY_SUFFIX.sub("", city.strip()).casefold()


def _similar_names(
    visible: QuerySet[Customer], min_ratio: float
) -> Iterator[tuple[int, int, float, str]]:
    """Pairs ``(a, b, ratio, reason)`` of similarly named customers in the same city."""
    blocks: dict[tuple[str, str, str], list[tuple[int, str, str, str]]] = defaultdict(list)
    rows = (visible.exclude(city="").order_by("pk")
            .values_list("pk", "name", "name_pinyin", "city", "kind"))
    for pk, name, pinyin, city, kind in rows:
        text, initials = _name_key(name, pinyin)
        if not text:
            continue
        blocks[(_city_key(city), kind, initials)].append((pk, name, text, city))
    for members in blocks.values():
        if len(members) < 2:
            continue
        texts = [m[2] for m in members]
        for start in range(0, len(texts), _CHUNK):
            scores = process.cdist(texts[start:start + _CHUNK], texts,
                                   scorer=fuzz.token_sort_ratio, score_cutoff=min_ratio,
                                   dtype=np.uint8)
            for i, j in zip(*np.nonzero(scores), strict=True):
                row = start + int(i)
                col = int(j)
                if col <= row:  # each pair once, never a customer with itself
                    continue
                a, b = members[row], members[col]
                yield a[0], b[0], float(scores[i, j]), _name_reason(a, b)


def _name_reason(a: tuple[int, str, str, str], b: tuple[int, str, str, str]) -> str:
    _, name_a, text_a, city = a
    _, name_b, text_b, _ = b
    detail = f"{name_a} / {name_b}"
    if name_pinyin(name_a)[0]:
        pinyin = text_a if text_a == text_b else f"{text_a} / {text_b}"
        detail += f", pinyin {pinyin}"
    return f"similar name in {city} ({detail})"


def find_duplicates(
    *,
    user: User,
    limit: int = DEFAULT_LIMIT,
    min_score: int = DEFAULT_MIN_SCORE,
) -> list[DuplicatePair]:
    """Likely duplicates among the customers ``user`` may see, best first.

    Merged customers (tombstones) are never proposed again. Only pairs scoring at least
    ``min_score`` (0–100) are returned, at most ``limit`` of them.
    """
    visible = customers_visible(user=user)
    evidence: dict[tuple[int, int], _Evidence] = defaultdict(_Evidence)

    def pairs(groups: Iterable[list[int]]) -> Iterator[tuple[int, int]]:
        for group in groups:
            yield from _star(group)

    for a, b in pairs(_exact_groups(visible, "phone")):
        evidence[(a, b)].add(PHONE_SCORE, "same phone")
    for a, b in pairs(_exact_groups(visible, "email")):
        evidence[(a, b)].add(EMAIL_SCORE, "same e-mail")
    # Ask rapidfuzz only for names alike enough to reach min_score on their own (and never
    # below 60, where "likeness" is noise); a contact match does not need the name's help.
    name_cutoff = min(100.0, max(MIN_NAME_RATIO, min_score / NAME_WEIGHT))
    for a, b, ratio, reason in _similar_names(visible, name_cutoff):
        evidence[(a, b)].add(ratio * NAME_WEIGHT, reason)

    ranked = sorted(
        ((pair, ev.score, ev.reasons) for pair, ev in evidence.items() if ev.score >= min_score),
        key=lambda item: (-item[1], item[0]),
    )[:limit]
    ids = {pk for (a, b), _, _ in ranked for pk in (a, b)}
    customers = Customer.objects.select_related("owner").in_bulk(ids)
    return [
        DuplicatePair(a=customers[a], b=customers[b], score=score, reasons=reasons)
        for (a, b), score, reasons in ranked
    ]
