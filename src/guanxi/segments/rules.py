"""The rule language of dynamic segments: a JSON tree compiled to one database filter.

A rule is a tree of groups and conditions::

    {"all": [                                            # every child must hold
        {"field": "city", "op": "in", "value": ["上海", "北京"]},
        {"any": [                                        # at least one child holds
            {"field": "value_tier", "op": "in", "value": ["vip", "key"]},
            {"field": "spent", "op": "gt", "value": 5000, "period": {"days": 365}},
        ]},
        {"not": {"field": "tag", "op": "has", "value": "投诉"}},   # the child does not hold
        {"field": "consent", "op": "granted", "value": {"channel": "sms", "purpose": "marketing"}},
    ]}

``compile_rule`` validates the tree (an error names the bad node by its path, e.g.
``all[1].any[0].value``) and turns it into a single ``Q`` over ``Customer``: counting or listing a
segment is one SQL query, never a loop over customers in Python. Order history, tags and consent
become ``EXISTS``/``IN`` subqueries, so nothing joins a to-many table and nothing needs DISTINCT.

Values (stage, tier, RFM, CLV, P(alive), next purchase) come from the customer's latest score
(``customer.value``), or, when a score run is given, from that run's snapshot (``CustomerScore``):
a snapshot of a past date must see the values of that date. A customer not scored yet counts as a
prospect with no tier and no numbers. Relative dates ("in the last 90 days") count back from
``today`` (the run's date for a snapshot) in the company's time zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils.translation import gettext_lazy as _

from guanxi.core import clock
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import (
    Consent,
    ConsentChannel,
    ConsentPurpose,
    Customer,
    Gender,
    IncomeBand,
    Kind,
    LifecycleStage,
    ValueTier,
)
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine
from guanxi.segments.errors import SegmentErrorCode
from guanxi.segments.models import ORDER_WINDOWS, CategoryStats, OrderStats, OrderStatsRun
from guanxi.value.models import CustomerScore, ScoreRun

__all__ = ["FIELDS", "MAX_CONDITIONS", "FieldSpec", "compile_rule", "describe_rule",
           "validate_rule"]

MAX_CONDITIONS = 50
MAX_DEPTH = 8

TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "startswith", "is_set", "is_not_set")
CHOICE_OPS = ("eq", "ne", "in", "not_in")
NUMBER_OPS = ("eq", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set")
DATE_OPS = ("before", "after", "between", "within_last_days", "more_than_days_ago",
            "within_next_days", "is_set", "is_not_set")
AGGREGATE_OPS = ("eq", "gt", "gte", "lt", "lte", "between")


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One field a rule may test.

    ``source`` says where it lives: ``customer`` (a profile column), ``value`` (the latest score,
    or a run's snapshot), or a special case (``tag``, ``consent``, ``orders``...).
    """

    name: str
    label: Any  # a lazy translation
    type: str  # text, choice, number, date, datetime, month, owner, tag, consent, aggregate...
    ops: tuple[str, ...]
    source: str = "customer"
    column: str = ""
    # Also readable as ``CustomerScore.<score_column>`` for a snapshot of a run.
    score_column: str = ""
    choices: tuple[str, ...] = ()
    # What a customer with no score has (stage "prospect", tier ""): part of "eq"/"in" answers.
    unscored: str | None = None


def _choices(enum: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in enum.values)


FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in (
    FieldSpec("city", _("city"), "text", TEXT_OPS, column="city"),
    FieldSpec("region", _("region"), "text", TEXT_OPS, column="region"),
    FieldSpec("country", _("country"), "text", TEXT_OPS, column="country"),
    FieldSpec("industry", _("industry"), "text", TEXT_OPS, column="industry"),
    FieldSpec("company_size", _("company size"), "text", TEXT_OPS, column="company_size"),
    FieldSpec("occupation", _("occupation"), "text", TEXT_OPS, column="occupation"),
    FieldSpec("source", _("acquisition source"), "text", TEXT_OPS, column="source"),
    FieldSpec("income_band", _("income band"), "choice", CHOICE_OPS, column="income_band",
              choices=_choices(IncomeBand)),
    FieldSpec("kind", _("kind"), "choice", CHOICE_OPS, column="kind", choices=_choices(Kind)),
    FieldSpec("gender", _("gender"), "choice", CHOICE_OPS, column="gender",
              choices=_choices(Gender)),
    FieldSpec("birthday_month", _("birthday month"), "month", ("eq", "ne", "in", "not_in"),
              column="birthday__month"),
    FieldSpec("acquired_on", _("acquired on"), "date", DATE_OPS, column="acquired_on"),
    FieldSpec("owner", _("owner"), "owner", ("eq", "ne", "in", "not_in", "is_set",
                                             "is_not_set"), column="owner"),
    FieldSpec("tag", _("tag"), "tag", ("has", "has_any", "has_all", "has_none")),
    FieldSpec("lifecycle_stage", _("lifecycle stage"), "choice", CHOICE_OPS, source="value",
              column="lifecycle_stage", choices=_choices(LifecycleStage),
              unscored=str(LifecycleStage.PROSPECT)),
    FieldSpec("value_tier", _("value tier"), "choice", CHOICE_OPS, source="value",
              column="value_tier", choices=_choices(ValueTier), unscored=""),
    FieldSpec("rfm_segment", _("RFM segment"), "text", CHOICE_OPS, source="value",
              column="rfm_segment", unscored=""),
    FieldSpec("clv", _("lifetime value"), "number", NUMBER_OPS, source="value", column="clv"),
    FieldSpec("p_alive", _("probability alive"), "number", NUMBER_OPS, source="value",
              column="p_alive"),
    FieldSpec("total_spend", _("total spend"), "number", NUMBER_OPS, source="value",
              column="total_spend"),
    FieldSpec("frequency", _("purchases"), "number", NUMBER_OPS, source="value",
              column="frequency"),
    FieldSpec("next_purchase", _("expected next purchase"), "date", DATE_OPS, source="value",
              column="expected_next_purchase"),
    # The customer's own column is kept current by orders; a snapshot reads the run's copy.
    FieldSpec("last_purchase", _("last purchase"), "datetime", DATE_OPS, source="customer",
              column="last_purchase_at", score_column="last_purchase_at"),
    FieldSpec("spent", _("amount spent"), "aggregate", AGGREGATE_OPS, source="orders"),
    FieldSpec("orders", _("number of orders"), "aggregate", AGGREGATE_OPS, source="orders"),
    FieldSpec("bought_category", _("bought a product of category"), "category",
              ("in", "not_in"), source="orders"),
    FieldSpec("consent", _("consent"), "consent", ("granted", "not_granted")),
)}


class _Context:
    def __init__(self, *, today: dt.date, run: ScoreRun | None, order_stats: bool) -> None:
        self.today = today
        self.run = run
        self.conditions = 0
        self.order_stats = order_stats
        self._stats_run_id: int | bool | None = False  # False: not looked up yet

    @property
    def stats_as_of(self) -> dt.date:
        """The date the order totals end with (only asked when ``stats_run_id`` is set)."""
        run_id = self.stats_run_id
        assert run_id is not None
        if self.run is not None and self.run.pk == run_id:
            return self.run.as_of
        return ScoreRun.objects.values_list("as_of", flat=True).get(pk=run_id)

    @property
    def stats_run_id(self) -> int | None:
        """The run ``OrderStats`` were computed for, when they serve this evaluation."""
        if self._stats_run_id is False:
            found = None
            if self.order_stats:
                found = OrderStatsRun.objects.values_list("run_id", flat=True).first()
                if self.run is not None and found != self.run.pk:
                    found = None
            self._stats_run_id = found
        assert self._stats_run_id is not True
        return self._stats_run_id


def _fail(path: str, message: str) -> ValidationFailed:
    where = path or "rule"
    return ValidationFailed(SegmentErrorCode.INVALID_RULE, f"{where}: {message}",
                            field=f"definition.{path}" if path else "definition")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def compile_rule(definition: Any, *, today: dt.date | None = None,
                 run: ScoreRun | None = None, order_stats: bool = True) -> Q:
    """Validate ``definition`` and return the ``Q`` that selects its customers.

    ``run``: read values from that run's snapshot instead of the latest scores; ``today``
    (default: today in the company time zone) anchors relative dates. Order-history conditions
    over all time or the last 30/90/180/365 days read the per-customer totals of the latest
    scoring run (``OrderStats``, as of that run's date) when they exist, unless ``order_stats``
    is false; other periods sum the orders.
    """
    ctx = _Context(today=today or clock.today(), run=run, order_stats=order_stats)
    return _node(definition, "", ctx, depth=0)


def validate_rule(definition: Any) -> None:
    """Raise ``ValidationFailed`` naming the first bad node; runs no query."""
    compile_rule(definition, order_stats=False)


def _node(node: Any, path: str, ctx: _Context, *, depth: int) -> Q:
    if depth > MAX_DEPTH:
        raise _fail(path, f"groups nest deeper than {MAX_DEPTH} levels.")
    if not isinstance(node, dict) or not node:
        raise _fail(path, 'expected a group ({"all": [...]}, {"any": [...]}, {"not": {...}}) '
                          'or a condition ({"field": ..., "op": ..., "value": ...}).')
    groups = [key for key in ("all", "any", "not") if key in node]
    if groups:
        if len(node) != 1:
            raise _fail(path, f'a group has exactly one key ("{groups[0]}"), '
                              f"found {sorted(node)}.")
        key = groups[0]
        if key == "not":
            return ~_node(node["not"], _join(path, "not"), ctx, depth=depth + 1)
        children = node[key]
        if not isinstance(children, list) or not children:
            raise _fail(_join(path, key), "expected a non-empty list of conditions.")
        parts = [_node(child, f"{_join(path, key)}[{i}]", ctx, depth=depth + 1)
                 for i, child in enumerate(children)]
        result = parts[0]
        for q in parts[1:]:
            result = result & q if key == "all" else result | q
        return result
    if "field" not in node or "op" not in node:
        raise _fail(path, 'a condition needs "field" and "op" (and usually "value"); '
                          f"found {sorted(node)}.")
    ctx.conditions += 1
    if ctx.conditions > MAX_CONDITIONS:
        raise _fail(path, f"a rule has at most {MAX_CONDITIONS} conditions.")
    return _condition(node, path, ctx)


def _condition(node: dict[str, Any], path: str, ctx: _Context) -> Q:
    name = node["field"]
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise _fail(_join(path, "field"),
                    f"unknown field {name!r}; known fields: {', '.join(sorted(FIELDS))}.")
    op = node["op"]
    if op not in spec.ops:
        raise _fail(_join(path, "op"),
                    f"{name} does not support {op!r}; use one of {', '.join(spec.ops)}.")
    allowed = {"field", "op", "value"} | ({"period"} if spec.source == "orders" else set())
    extra = set(node) - allowed
    if extra:
        raise _fail(path, f"unexpected keys {sorted(extra)} in a {name} condition.")
    needs_value = op not in ("is_set", "is_not_set")
    if needs_value and "value" not in node:
        raise _fail(path, f'{name} {op} needs a "value".')
    value = node.get("value")
    vpath = _join(path, "value")
    compiler = _COMPILERS[spec.type]
    return compiler(spec, op, value, vpath, node, ctx)


# -- values --------------------------------------------------------------------------------------

def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected text, got {value!r}.")
    return value


def _text_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _fail(path, "expected a non-empty list of texts.")
    return [_text(v, f"{path}[{i}]") for i, v in enumerate(value)]


def _number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(path, f"expected a number, got {value!r}.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _fail(path, f"expected a number, got {value!r}.") from None
    if not number.is_finite():
        raise _fail(path, f"expected a finite number, got {value!r}.")
    return number


def _pair(value: Any, path: str, parse: Callable[[Any, str], Any]) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(path, "expected [low, high].")
    low, high = parse(value[0], f"{path}[0]"), parse(value[1], f"{path}[1]")
    if low > high:
        raise _fail(path, f"the low end {value[0]!r} is above the high end {value[1]!r}.")
    return low, high


def _date(value: Any, path: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(path, f"expected a date as YYYY-MM-DD, got {value!r}.")


def _days(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 36_500:
        raise _fail(path, f"expected a whole number of days (0 to 36500), got {value!r}.")
    return int(value)


def _choice(spec: FieldSpec, value: Any, path: str) -> str:
    text = _text(value, path)
    if spec.choices and text not in spec.choices:
        known = ", ".join(repr(c) for c in spec.choices)
        raise _fail(path, f"{text!r} is not a {spec.name}; use one of {known}.")
    return text


# -- where a column is read ----------------------------------------------------------------------

def _lookup(spec: FieldSpec, ctx: _Context, lookup: str, value: Any) -> Q:
    """``column__lookup=value`` on the customer, its latest value, or a run's snapshot."""
    suffix = f"__{lookup}" if lookup else ""
    if spec.source == "value" or (ctx.run is not None and spec.score_column):
        column = spec.score_column or spec.column
        if ctx.run is not None:
            scores = CustomerScore.objects.filter(run=ctx.run, **{f"{column}{suffix}": value})
            return Q(pk__in=scores.values("customer_id"))
        return Q(**{f"value__{column}{suffix}": value})
    return Q(**{f"{spec.column}{suffix}": value})


def _unscored(ctx: _Context) -> Q:
    """Customers with no score (in the run, or at all): they count as prospects."""
    if ctx.run is not None:
        return ~Q(pk__in=CustomerScore.objects.filter(run=ctx.run).values("customer_id"))
    return Q(value__isnull=True)


def _in(spec: FieldSpec, ctx: _Context, values: list[str]) -> Q:
    q = _lookup(spec, ctx, "in", values) if len(values) > 1 else _lookup(spec, ctx, "",
                                                                          values[0])
    if spec.unscored is not None and spec.unscored in values:
        q |= _unscored(ctx)
    return q


def _is_set(spec: FieldSpec, ctx: _Context, op: str) -> Q:
    if spec.type == "text" and spec.source == "customer":
        q = ~Q(**{spec.column: ""})
    else:
        q = _lookup(spec, ctx, "isnull", False)
    return q if op == "is_set" else ~q


def _compile_text(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                  ctx: _Context) -> Q:
    if op in ("is_set", "is_not_set"):
        return _is_set(spec, ctx, op)
    if op in ("in", "not_in"):
        values = [_choice(spec, v, f"{path}[{i}]")
                  for i, v in enumerate(_text_list(value, path))]
    else:
        values = [_choice(spec, value, path)]
    if op == "contains":
        return _lookup(spec, ctx, "icontains", values[0])
    if op == "startswith":
        return _lookup(spec, ctx, "startswith", values[0])
    q = _in(spec, ctx, values)
    return ~q if op in ("ne", "not_in") else q


def _compile_month(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                   ctx: _Context) -> Q:
    raw = value if op in ("in", "not_in") else [value]
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "expected a non-empty list of months (1 to 12).")
    months = []
    for i, month in enumerate(raw):
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            where = f"{path}[{i}]" if op in ("in", "not_in") else path
            raise _fail(where, f"expected a month from 1 to 12, got {month!r}.")
        months.append(month)
    q = Q(birthday__month__in=months)
    return ~q if op in ("ne", "not_in") else q


def _compile_number(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                    ctx: _Context) -> Q:
    if op in ("is_set", "is_not_set"):
        return _is_set(spec, ctx, op)
    if op == "between":
        low, high = _pair(value, path, _number)
        return _lookup(spec, ctx, "gte", low) & _lookup(spec, ctx, "lte", high)
    number = _number(value, path)
    if spec.name == "p_alive" and not 0 <= number <= 1:
        raise _fail(path, f"a probability is between 0 and 1, got {value!r}.")
    return _lookup(spec, ctx, "" if op == "eq" else op, number)


def _date_bounds(op: str, value: Any, path: str,
                 today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The inclusive day range [first, last] an operator means (None: open)."""
    if op == "before":
        return None, _date(value, path) - dt.timedelta(days=1)
    if op == "after":
        return _date(value, path) + dt.timedelta(days=1), None
    if op == "between":
        low, high = _pair(value, path, _date)
        return low, high
    days = _days(value, path)
    if op == "within_last_days":
        return today - dt.timedelta(days=days), today
    if op == "more_than_days_ago":
        return None, today - dt.timedelta(days=days + 1)
    assert op == "within_next_days"
    return today, today + dt.timedelta(days=days)


def _compile_date(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                  ctx: _Context) -> Q:
    if op in ("is_set", "is_not_set"):
        return _is_set(spec, ctx, op)
    first, last = _date_bounds(op, value, path, ctx.today)
    q = Q()
    if spec.type == "datetime":
        # An instant column: whole days of the company's time zone, [start of first day,
        # start of the day after last) — a purchase at 23:30 Shanghai time is that day's.
        if first is not None:
            q &= _lookup(spec, ctx, "gte", clock.start_of_day(first))
        if last is not None:
            q &= _lookup(spec, ctx, "lt", clock.start_of_day(last + dt.timedelta(days=1)))
    else:
        if first is not None:
            q &= _lookup(spec, ctx, "gte", first)
        if last is not None:
            q &= _lookup(spec, ctx, "lte", last)
    return q


def _compile_choice(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                    ctx: _Context) -> Q:
    return _compile_text(spec, op, value, path, node, ctx)


def _compile_owner(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                   ctx: _Context) -> Q:
    if op in ("is_set", "is_not_set"):
        q = Q(owner__isnull=False)
        return q if op == "is_set" else ~q
    raw = value if op in ("in", "not_in") else [value]
    if not isinstance(raw, list) or not raw:
        raise _fail(path, "expected a non-empty list of user ids or user names.")
    ids: list[int] = []
    names: list[str] = []
    for i, item in enumerate(raw):
        if isinstance(item, int) and not isinstance(item, bool):
            ids.append(item)
        elif isinstance(item, str) and item:
            names.append(item)
        else:
            where = f"{path}[{i}]" if op in ("in", "not_in") else path
            raise _fail(where, f"expected a user id or user name, got {item!r}.")
    q = Q()
    if ids:
        q |= Q(owner_id__in=ids)
    if names:
        q |= Q(owner__username__in=names)
    return ~q if op in ("ne", "not_in") else q


def _tagged(names: list[str]) -> Q:
    through = Customer.tags.through
    return Q(Exists(through.objects.filter(customer_id=OuterRef("pk"), tag__name__in=names)))


def _compile_tag(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                 ctx: _Context) -> Q:
    names = [_text(value, path)] if op == "has" else _text_list(value, path)
    if op == "has_all":
        q = Q()
        for name in names:
            q &= _tagged([name])
        return q
    q = _tagged(names)
    return ~q if op == "has_none" else q


def _compile_consent(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                     ctx: _Context) -> Q:
    if not isinstance(value, dict) or "purpose" not in value or set(value) - {"channel",
                                                                              "purpose"}:
        raise _fail(path, 'expected {"purpose": ..., "channel": ...} (channel optional).')
    purpose = _text(value["purpose"], f"{path}.purpose")
    if purpose not in ConsentPurpose.values:
        raise _fail(f"{path}.purpose", f"{purpose!r} is not a purpose; use one of "
                                       f"{', '.join(ConsentPurpose.values)}.")
    consents = Consent.objects.filter(customer_id=OuterRef("pk"), purpose=purpose, granted=True)
    if value.get("channel") is not None:
        channel = _text(value["channel"], f"{path}.channel")
        if channel not in ConsentChannel.values:
            raise _fail(f"{path}.channel", f"{channel!r} is not a channel; use one of "
                                           f"{', '.join(ConsentChannel.values)}.")
        consents = consents.filter(channel=channel)
    q = Q(Exists(consents))
    return q if op == "granted" else ~q


def _purchases(node: dict[str, Any], path: str, ctx: _Context, prefix: str = "") -> Q:
    """Which orders count: purchases (not refunded or cancelled) in the rule's period.

    The period ends with ``today`` (the run's date for a snapshot: later orders did not exist
    then); ``{"days": N}`` starts N days earlier, ``{"from": ..., "to": ...}`` is explicit.
    """
    period = node.get("period")
    ppath = _join(path.rsplit(".", 1)[0] if "." in path else "", "period")
    first: dt.date | None = None
    last = ctx.today
    if period is not None:
        if not isinstance(period, dict) or not period or set(period) - {"days", "from", "to"}:
            raise _fail(ppath, 'expected {"days": N} or {"from": date, "to": date}.')
        if "days" in period:
            if set(period) != {"days"}:
                raise _fail(ppath, 'use either "days" or "from"/"to".')
            first = ctx.today - dt.timedelta(days=_days(period["days"], f"{ppath}.days"))
        else:
            if "from" in period:
                first = _date(period["from"], f"{ppath}.from")
            if "to" in period:
                last = min(last, _date(period["to"], f"{ppath}.to"))
    q = Q(**{f"{prefix}placed_at__lt": clock.start_of_day(last + dt.timedelta(days=1))})
    if first is not None:
        q &= Q(**{f"{prefix}placed_at__gte": clock.start_of_day(first)})
    return q & ~Q(**{f"{prefix}status__in": [str(s) for s in NOT_A_PURCHASE]})


def _compile_aggregate(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                       ctx: _Context) -> Q:
    """"Spent more than 5,000 in the last year", "at least 3 orders": a grouped subquery.

    A customer without purchases in the period has spent 0 in 0 orders, so "spent less than
    100" must include them: when the condition holds for 0, the rule is written as "not among
    the customers for whom it fails" rather than "among those for whom it holds".
    """
    if op == "between":
        low, high = _pair(value, path, _number)
    else:
        low = high = _number(value, path)
    holds_at_zero = {
        "eq": low == 0, "gt": low < 0, "gte": low <= 0, "lt": low > 0, "lte": low >= 0,
        "between": low <= 0 <= high,
    }[op]
    having = {
        "eq": Q(agg=low), "gt": Q(agg__gt=low), "gte": Q(agg__gte=low), "lt": Q(agg__lt=low),
        "lte": Q(agg__lte=low), "between": Q(agg__gte=low, agg__lte=high),
    }[op]
    spent = spec.name == "spent"
    purchases = _purchases(node, path, ctx)  # validates the period too
    window = _stats_window(node, ctx)
    if window is not None:
        # The per-customer totals of the latest run's date: a lookup, not a sum of all orders.
        stats = OrderStats.objects.annotate(
            agg=F(f"{'spent' if spent else 'orders'}_{window}")).values("customer_id")
        if holds_at_zero:
            return ~Q(pk__in=stats.filter(~having))
        return Q(pk__in=stats.filter(having))
    aggregate = Sum("total") if spent else Count("id")
    orders = (Order.objects.filter(purchases).order_by()
              .values("customer_id").annotate(agg=aggregate))
    if holds_at_zero:
        return ~Q(pk__in=orders.filter(~having).values("customer_id"))
    return Q(pk__in=orders.filter(having).values("customer_id"))


def _stats_window(node: dict[str, Any], ctx: _Context) -> str | None:
    """The ``OrderStats`` column suffix serving the condition's period, if any does.

    Only when the stats end with the evaluated day: the latest run's date for a live count (the
    same convention as dynamic segments: as of the latest scoring), the run's for a snapshot.
    """
    period = node.get("period")
    if period is None:
        window = "all"
    elif set(period) == {"days"} and period["days"] in ORDER_WINDOWS:
        window = str(period["days"])
    else:
        return None
    if ctx.stats_run_id is None:
        return None
    return window


def _compile_category(spec: FieldSpec, op: str, value: Any, path: str, node: dict[str, Any],
                      ctx: _Context) -> Q:
    categories = _text_list(value, path) if isinstance(value, list) else [_text(value, path)]
    purchases = _purchases(node, path, ctx, prefix="order__")  # validates the period too
    window = _stats_window(node, ctx)
    if window is not None:
        # The last purchase per customer and category as of the latest run: a small table.
        bought = CategoryStats.objects.filter(category__in=categories)
        if window != "all":
            start = ctx.stats_as_of - dt.timedelta(days=int(window))
            bought = bought.filter(last_bought_at__gte=clock.start_of_day(start))
        q = Q(pk__in=bought.values("customer_id"))
        return ~q if op == "not_in" else q
    lines = OrderLine.objects.filter(purchases,
                                     order__customer_id=OuterRef("pk"),
                                     product__category__in=categories)
    q = Q(Exists(lines))
    return ~q if op == "not_in" else q


_Compiler = Callable[[FieldSpec, str, Any, str, dict[str, Any], _Context], Q]

_COMPILERS: dict[str, _Compiler] = {
    "text": _compile_text,
    "choice": _compile_choice,
    "month": _compile_month,
    "number": _compile_number,
    "date": _compile_date,
    "datetime": _compile_date,
    "owner": _compile_owner,
    "tag": _compile_tag,
    "consent": _compile_consent,
    "aggregate": _compile_aggregate,
    "category": _compile_category,
}


# -- reading a rule back -------------------------------------------------------------------------

_OP_WORDS: dict[str, Any] = {
    "eq": _("is"), "ne": _("is not"), "in": _("is one of"), "not_in": _("is none of"),
    "contains": _("contains"), "startswith": _("starts with"), "is_set": _("is known"),
    "is_not_set": _("is unknown"), "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
    "between": _("between"), "before": _("before"), "after": _("after"),
    "within_last_days": _("in the last %(n)s days"),
    "more_than_days_ago": _("more than %(n)s days ago"),
    "within_next_days": _("in the next %(n)s days"), "has": _("has"), "has_any": _("has any of"),
    "has_all": _("has all of"), "has_none": _("has none of"), "granted": _("granted"),
    "not_granted": _("not granted"),
}


def describe_rule(definition: Any) -> str:
    """A one-line reading of a (valid) rule, e.g. ``city is 上海 and (tier is vip or ...)``."""
    return _describe(definition, top=True)


def _describe(node: Any, *, top: bool = False) -> str:
    if not isinstance(node, dict):
        return "?"
    for key, word in (("all", _(" and ")), ("any", _(" or "))):
        if key in node and isinstance(node[key], Sequence):
            text = str(word).join(_describe(child) for child in node[key])
            return text if top or len(node[key]) < 2 else f"({text})"
    if "not" in node:
        return _("not %(condition)s") % {"condition": _describe(node["not"])}
    spec = FIELDS.get(node.get("field", ""))
    label = str(spec.label) if spec else str(node.get("field"))
    op = str(node.get("op", ""))
    words = str(_OP_WORDS.get(op, op))
    value = node.get("value")
    if isinstance(value, list):
        shown: Any = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):  # consent: channel/purpose, as written in --where
        shown = "/".join(str(value[k]) for k in ("channel", "purpose") if value.get(k))
    else:
        shown = value
    if op in ("is_set", "is_not_set"):
        text = f"{label} {words}"
    elif "%(n)s" in words:
        text = f"{label} {words % {'n': shown}}"
    else:
        text = f"{label} {words} {shown}"
    period = node.get("period")
    if isinstance(period, dict):
        if "days" in period:
            text += " " + _("(last %(days)s days)") % {"days": period["days"]}
        else:
            text += f" ({period.get('from', '…')} – {period.get('to', '…')})"
    return text
