"""Forms of the segments pages: the rule builder and the statistical build.

The builder is a few condition rows (field, operator, value, "not"), joined by "all" or "any";
``RuleForm.definition()`` turns them into the JSON rule of ``guanxi.segments.rules``, which
validates it (its error names the row: ``all[1].value``). Values are typed as a person types
them: lists comma-separated (``上海, 北京``), ranges as ``low, high``, days as a number.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.segments.rules import FIELDS

ROWS = 5

OP_LABELS: dict[str, Any] = {
    "eq": _("is"), "ne": _("is not"), "in": _("is one of"), "not_in": _("is none of"),
    "contains": _("contains"), "startswith": _("starts with"), "is_set": _("is known"),
    "is_not_set": _("is unknown"), "gt": _("more than"), "gte": _("at least"),
    "lt": _("less than"), "lte": _("at most"), "between": _("between"),
    "before": _("before"), "after": _("after"), "within_last_days": _("in the last … days"),
    "more_than_days_ago": _("more than … days ago"),
    "within_next_days": _("in the next … days"), "has": _("has tag"),
    "has_any": _("has any of the tags"), "has_all": _("has all the tags"),
    "has_none": _("has none of the tags"), "granted": _("has granted"),
    "not_granted": _("has not granted"),
}

_SPLIT = re.compile(r"\s*[,，;；]\s*")
_LIST_OPS = ("in", "not_in", "has_any", "has_all", "has_none")
_DAY_OPS = ("within_last_days", "more_than_days_ago", "within_next_days")


def field_choices() -> list[tuple[str, Any]]:
    return [("", "—")] + [(name, spec.label) for name, spec in FIELDS.items()]


def op_choices() -> list[tuple[str, Any]]:
    ops: list[str] = []
    for spec in FIELDS.values():
        ops += [op for op in spec.ops if op not in ops]
    return [(op, OP_LABELS.get(op, op)) for op in ops]


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text  # the rule's validation names it
    return int(number) if number.is_integer() and "." not in text else number


def _parse_value(field: str, op: str, text: str) -> Any:
    """The JSON value of one condition from what was typed."""
    spec = FIELDS[field]
    text = text.strip()
    parts = [p for p in _SPLIT.split(text) if p] if text else []
    if op in ("is_set", "is_not_set"):
        return None
    if spec.type == "consent":
        purpose, _sep, channel = text.partition(":")
        value: dict[str, Any] = {"purpose": purpose.strip()}
        if channel.strip():
            value["channel"] = channel.strip()
        return value
    if op == "between":
        if spec.type in ("number", "aggregate"):
            return [_number(p) for p in parts]
        return parts
    if op in _DAY_OPS:
        return int(text) if text.isdigit() else text
    if spec.type == "month":
        months = [int(p) if p.isdigit() else p for p in parts]
        return months if op in _LIST_OPS else (months[0] if months else text)
    if spec.type in ("number", "aggregate"):
        return _number(text)
    if spec.type == "owner":
        items = [int(p) if p.isdigit() else p for p in parts]
        return items if op in _LIST_OPS else (items[0] if items else text)
    if spec.type == "category" or op in _LIST_OPS:
        return parts
    return text


class ConditionForm(forms.Form):
    field = forms.ChoiceField(label=_("Field"), choices=field_choices, required=False)
    op = forms.ChoiceField(label=_("Condition"), choices=op_choices, required=False)
    value = forms.CharField(label=_("Value"), required=False, max_length=500)
    days = forms.IntegerField(label=_("In the last … days"), required=False, min_value=1,
                              max_value=36_500,
                              help_text=_("Only for amount spent, orders and categories."))
    negate = forms.BooleanField(label=_("not"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offer only the conditions the chosen field supports (the row is redrawn by htmx
        # when the field changes).
        key = self.add_prefix("field")
        field = (self.data.get(key) if self.is_bound else None) or self.initial.get("field")
        spec = FIELDS.get(field or "")
        op_field = self.fields["op"]
        if spec is not None and isinstance(op_field, forms.ChoiceField):
            op_field.choices = [(op, OP_LABELS.get(op, op)) for op in spec.ops]

    def node(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("field"):
            return None
        field, op = data["field"], data.get("op") or ""
        node: dict[str, Any] = {"field": field, "op": op}
        value = _parse_value(field, op, data.get("value") or "") if field in FIELDS else None
        if value is not None:
            node["value"] = value
        if data.get("days") and FIELDS[field].source == "orders":
            node["period"] = {"days": data["days"]}
        return {"not": node} if data.get("negate") else node


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    combine = forms.ChoiceField(label=_("Customers matching"), choices=[
        ("all", _("all of the conditions")), ("any", _("any of the conditions"))])

    def __init__(self, data: Any = None, *, initial_rule: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        rows = _rows_of(initial_rule) if initial_rule else []
        if initial_rule and "any" in initial_rule:
            self.initial.setdefault("combine", "any")
        self.conditions = [
            ConditionForm(data, prefix=f"c{i}", initial=rows[i] if i < len(rows) else None)
            for i in range(max(ROWS, len(rows)))
        ]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([c.is_valid() for c in self.conditions]) and valid

    def definition(self) -> dict[str, Any]:
        """The rule (call after ``is_valid``); an empty group when no row is filled."""
        nodes = [n for n in (c.node() for c in self.conditions) if n is not None]
        return {self.cleaned_data.get("combine") or "all": nodes}


def _rows_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """Builder rows from a stored rule of one level (deeper rules are edited as JSON)."""
    children = rule.get("all", rule.get("any", []))
    rows = []
    for child in children if isinstance(children, list) else []:
        negate = "not" in child
        node = child["not"] if negate else child
        if not isinstance(node, dict) or "field" not in node:
            continue
        value = node.get("value")
        if isinstance(value, dict):
            text = ":".join(str(v) for v in (value.get("purpose"), value.get("channel")) if v)
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = "" if value is None else str(value)
        rows.append({"field": node["field"], "op": node.get("op"), "value": text,
                     "days": (node.get("period") or {}).get("days"), "negate": negate})
    return rows


def rule_is_simple(rule: dict[str, Any]) -> bool:
    """True when the builder's rows can show the whole rule (one group, no nesting)."""
    children = rule.get("all", rule.get("any"))
    if not isinstance(children, list) or len(rule) != 1:
        return False
    for child in children:
        node = child.get("not", child) if isinstance(child, dict) else None
        if not isinstance(node, dict) or "field" not in node:
            return False
    return True


class RenameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)


class BuildForm(forms.Form):
    k_min = forms.IntegerField(label=_("Fewest segments"), min_value=2, max_value=30,
                               initial=6)
    k_max = forms.IntegerField(label=_("Most segments"), min_value=2, max_value=30, initial=10)
    criterion = forms.ChoiceField(label=_("Chosen by"), choices=[
        ("bic", _("BIC of a Gaussian mixture")), ("silhouette", _("Silhouette"))])
