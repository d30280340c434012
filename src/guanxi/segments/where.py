"""A readable one-line syntax for rules, turned into the JSON rule tree (``guanxi.segments.rules``).

Examples::

    city = 上海 and tier in vip,key
    (stage = loyal or clv >= 5000) and not tag has 投诉
    spent > 5000 in 365d and last_purchase within 90d
    consent = sms/marketing and birthday_month in 3,4

``and`` binds tighter than ``or``; ``not`` and parentheses work as usual; quote values with
spaces. Operators: ``=  !=  >  >=  <  <=  in  not in  ~`` (contains), ``has`` (a tag, also
``has any``/``has all``/``has none`` with a list), ``within Nd`` (in the last N days, or the next
N days for next_purchase), ``over Nd`` (more than N days ago), ``is set``/``is not set``. On a date
field ``<`` and ``>`` mean before and after. ``spent`` and ``orders`` take ``in Nd`` for a period.
``tier`` and ``stage`` are short for ``value_tier`` and ``lifecycle_stage``.
"""

from __future__ import annotations

import shlex
from typing import Any

from guanxi.core.errors import ValidationFailed
from guanxi.segments.errors import SegmentErrorCode
from guanxi.segments.rules import FIELDS

__all__ = ["parse_where"]

ALIASES = {"tier": "value_tier", "stage": "lifecycle_stage", "rfm": "rfm_segment",
           "category": "bought_category"}
COMPARE = {"=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed(SegmentErrorCode.INVALID_RULE, message, field="where")


class _Parser:
    def __init__(self, text: str) -> None:
        lexer = shlex.shlex(text, posix=True, punctuation_chars="()<>=!~")
        lexer.whitespace_split = True
        try:
            self.tokens = list(lexer)
        except ValueError as exc:  # an unclosed quote
            raise _fail(f"Cannot read the rule: {exc}.") from None
        self.pos = 0

    def peek(self, offset: int = 0) -> str | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, what: str = "more of the rule") -> str:
        token = self.peek()
        if token is None:
            raise _fail(f"The rule ends too early: expected {what}.")
        self.pos += 1
        return token

    def parse(self) -> dict[str, Any]:
        if not self.tokens:
            raise _fail("The rule is empty.")
        node = self.expr()
        if self.peek() is not None:
            raise _fail(f"Unexpected {self.peek()!r} after a complete condition "
                        "(join conditions with and / or).")
        return node

    def expr(self) -> dict[str, Any]:
        terms = [self.term()]
        while (self.peek() or "").lower() == "or":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else {"any": terms}

    def term(self) -> dict[str, Any]:
        factors = [self.factor()]
        while (self.peek() or "").lower() == "and":
            self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else {"all": factors}

    def factor(self) -> dict[str, Any]:
        token = self.peek()
        if token is not None and token.lower() == "not":
            self.take()
            return {"not": self.factor()}
        if token == "(":
            self.take()
            node = self.expr()
            if self.take("')'") != ")":
                raise _fail("A '(' is not closed.")
            return node
        return self.condition()

    def condition(self) -> dict[str, Any]:
        name = self.take("a field")
        field = ALIASES.get(name, name)
        spec = FIELDS.get(field)
        if spec is None:
            raise _fail(f"Unknown field {name!r}; known fields: {', '.join(sorted(FIELDS))}.")
        word = self.take(f"an operator after {name}").lower()
        if word == "not" and (self.peek() or "").lower() == "in":
            self.take()
            word = "not in"
        elif word in ("is", "has") and (self.peek() or "").lower() in ("not", "set", "any",
                                                                         "all", "none"):
            word = f"{word} {self.take()}"
            if word == "is not":
                if self.take("'set'").lower() != "set":
                    raise _fail(f"Expected 'is not set' after {name}.")
                word = "is not set"
        if word in ("is set", "is not set"):
            return {"field": field, "op": word.replace(" ", "_")}
        raw = self.take(f"a value after {name} {word}")
        node: dict[str, Any] = {"field": field}
        if spec.type == "tag":
            ops = {"has": "has", "=": "has", "has any": "has_any", "has all": "has_all",
                   "has none": "has_none", "in": "has_any", "not in": "has_none"}
            node["op"] = ops.get(word, "")
            node["value"] = raw if node["op"] == "has" else raw.split(",")
        elif spec.type == "consent":
            channel, _, purpose = raw.rpartition("/")
            node["op"] = {"=": "granted", "!=": "not_granted"}.get(word, "")
            node["value"] = {"purpose": purpose, **({"channel": channel} if channel else {})}
        elif spec.type in ("date", "datetime"):
            if word in ("within", "over"):
                node["op"] = ("within_next_days" if field == "next_purchase"
                              else "within_last_days") if word == "within" else (
                    "more_than_days_ago")
                node["value"] = self._days(raw)
            else:
                node["op"] = {"<": "before", ">": "after"}.get(word, "")
                node["value"] = raw
        else:
            op = COMPARE.get(word) or {"in": "in", "not in": "not_in", "~": "contains"}.get(word)
            if spec.type == "category":
                op = {"=": "in", "eq": "in", "in": "in", "ne": "not_in", "not in": "not_in",
                      "not_in": "not_in"}.get(op or word, "")
            node["op"] = op or ""
            values = raw.split(",") if node["op"] in ("in", "not_in") else [raw]
            typed = [self._typed(spec.type, v) for v in values]
            node["value"] = typed if node["op"] in ("in", "not_in") else typed[0]
            if spec.type == "aggregate" and (self.peek() or "").lower() == "in":
                self.take()
                node["period"] = {"days": self._days(self.take("a period like 365d"))}
        if not node["op"] or node["op"] not in spec.ops:
            raise _fail(f"{name} does not take {word!r}.")
        return node

    @staticmethod
    def _days(raw: str) -> int:
        digits = raw.lower().removesuffix("d")
        if not digits.isdigit():
            raise _fail(f"Expected a number of days like 90d, got {raw!r}.")
        return int(digits)

    @staticmethod
    def _typed(kind: str, raw: str) -> Any:
        if kind in ("number", "aggregate", "month"):
            try:
                return int(raw) if raw.lstrip("-").isdigit() else float(raw)
            except ValueError:
                raise _fail(f"Expected a number, got {raw!r}.") from None
        if kind == "owner" and raw.isdigit():
            return int(raw)
        return raw


def parse_where(text: str) -> dict[str, Any]:
    """``city = 上海 and tier in vip,key`` → the JSON rule (validate it with ``validate_rule``)."""
    return _Parser(text).parse()
