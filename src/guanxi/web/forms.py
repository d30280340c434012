"""Forms validate input at the edge; services make the change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.models import User
from guanxi.customers.models import (
    Channel,
    Direction,
    LifecycleStage,
    NoteCategory,
    ValueTier,
)
from guanxi.imports.models import ImportKind
from guanxi.web.selectors import SORTS, ListFilters, SortKey


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}),
                           max_length=4000)
    category = forms.ChoiceField(label=_("Category"), choices=NoteCategory.choices,
                                 initial=NoteCategory.OTHER)
    pinned = forms.BooleanField(label=_("Pin to the top"), required=False)

    def clean_text(self) -> str:
        text = str(self.cleaned_data["text"]).strip()
        if not text:
            raise forms.ValidationError(_("A note needs some text."))
        return text


class InteractionForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices,
                                initial=Channel.PHONE)
    direction = forms.ChoiceField(label=_("Direction"), choices=Direction.choices,
                                  initial=Direction.OUTBOUND)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    outcome = forms.CharField(label=_("Outcome"), required=False, max_length=4000,
                              widget=forms.Textarea(attrs={"rows": 2}))


_SORT_LABELS = {
    "name": _("Name"),
    "-clv": _("Lifetime value, highest first"),
    "-last_purchase_at": _("Last purchase, latest first"),
    "-id": _("Newest customers first"),
}


class _CachedChoiceIterator(forms.models.ModelChoiceIterator):
    """Reads the choices through the queryset itself rather than ``queryset.iterator()``.

    On PostgreSQL ``iterator()`` opens a server-side cursor (``DECLARE ... WITH HOLD``, which
    copies the result out at commit, then FETCH and CLOSE): three round trips, up to 28 ms on a
    busy server, to list the handful of people in the owner filter.
    """

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class _OwnerField(forms.ModelChoiceField):  # type: ignore[type-arg]  # Django's stubs: generic
    iterator = _CachedChoiceIterator


class ListFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200,
                        widget=forms.TextInput(attrs={
                            "type": "search",
                            "placeholder": _("Name, pinyin, phone, e-mail, id"),
                        }))
    owner = _OwnerField(label=_("Owner"), queryset=User.objects.none(),
                        required=False, empty_label=_("Any owner"))
    stage = forms.ChoiceField(label=_("Lifecycle stage"), required=False,
                              choices=[("", _("Any stage")), *LifecycleStage.choices])
    tier = forms.ChoiceField(label=_("Value tier"), required=False,
                             choices=[("", _("Any tier")),
                                      *[c for c in ValueTier.choices if c[0]]])
    segment = forms.CharField(label=_("Segment"), required=False, max_length=32)
    city = forms.CharField(label=_("City"), required=False, max_length=100)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=64)
    purchased_since = forms.DateField(label=_("Last purchase from"), required=False,
                                      widget=forms.DateInput(attrs={"type": "date"}))
    purchased_before = forms.DateField(label=_("Last purchase before"), required=False,
                                       widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(label=_("Sort"), required=False,
                             choices=[(s, _SORT_LABELS[s]) for s in SORTS])

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # labels sit above the fields
        super().__init__(*args, **kwargs)
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, forms.ModelChoiceField)
        owner_field.queryset = owners

    def filters(self) -> ListFilters:
        """The filters to apply; call after ``is_valid()`` (invalid fields are ignored)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        owner = data.get("owner")
        sort: SortKey = "name"
        for candidate in SORTS:
            if data.get("sort") == candidate:
                sort = candidate
        return ListFilters(
            search=data.get("q") or "",
            owner_id=owner.pk if owner else None,
            lifecycle_stage=data.get("stage") or "",
            value_tier=data.get("tier") or "",
            segment=data.get("segment") or "",
            city=data.get("city") or "",
            tag=data.get("tag") or "",
            purchased_since=data.get("purchased_since"),
            purchased_before=data.get("purchased_before"),
            sort=sort,
        )


class IdListField(forms.Field):
    """Several ``ids`` checkboxes: a non-empty list of positive integers (at most 1,000)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            raise forms.ValidationError(_("Select at least one customer."), code="required")
        try:
            ids = sorted({int(v) for v in value})
        except (TypeError, ValueError):
            raise forms.ValidationError(_("Not a customer id."), code="invalid") from None
        if len(ids) > 1000 or any(i <= 0 for i in ids):
            raise forms.ValidationError(_("Select between 1 and 1,000 customers."),
                                        code="invalid")
        return ids


class BulkForm(forms.Form):
    ACTIONS = (
        ("assign", _("Assign owner")),
        ("tag", _("Add tags")),
        ("export_csv", _("Export CSV")),
        ("export_xlsx", _("Export Excel")),
    )
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    ids = IdListField(label=_("Customers"))
    owner = forms.ModelChoiceField(label=_("New owner"), queryset=User.objects.none(),
                                   required=False)
    tags = forms.CharField(label=_("Tags"), required=False, max_length=500,
                           help_text=_("Separate several tags with commas."))

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, forms.ModelChoiceField)
        owner_field.queryset = owners

    def clean_tags(self) -> list[str]:
        raw = str(self.cleaned_data.get("tags") or "")
        # Chinese keyboards type the full-width comma (，) and the enumeration comma (、).
        for sep in ("，", "、", ";", "；"):
            raw = raw.replace(sep, ",")
        names = sorted({n.strip() for n in raw.split(",") if n.strip()})
        if any(len(n) > 64 for n in names):
            raise forms.ValidationError(_("A tag is at most 64 characters."))
        return names

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if cleaned and cleaned.get("action") == "assign" and not cleaned.get("owner"):
            self.add_error("owner", _("Choose the new owner."))
        if cleaned and cleaned.get("action") == "tag" and not cleaned.get("tags"):
            self.add_error("tags", _("Type at least one tag."))
        return cleaned


# --- imports ---------------------------------------------------------------------------------

class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("The file holds"), choices=ImportKind.choices,
                             initial=ImportKind.CUSTOMERS)
    file = forms.FileField(label=_("File (CSV, TSV or Excel)"))


class MappingForm(forms.Form):
    """One select per column of the file: the field it feeds, or "ignore"."""

    IGNORE = "-"

    def __init__(self, *args: Any, headers: list[str], fields: list[str],
                 proposed: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        choices = [(self.IGNORE, _("(ignore)")), *((f, f) for f in fields)]
        for i, header in enumerate(headers):
            self.fields[f"col_{i}"] = forms.ChoiceField(
                label=header, choices=choices, initial=proposed.get(header, self.IGNORE))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        seen: dict[str, str] = {}
        for i, header in enumerate(self.headers):
            field = data.get(f"col_{i}")
            if field and field != self.IGNORE:
                if field in seen:
                    raise forms.ValidationError(
                        _("%(field)s is mapped from two columns: %(a)s and %(b)s.")
                        % {"field": field, "a": seen[field], "b": header})
                seen[field] = header
        return data

    def mapping(self) -> dict[str, str]:
        """``{column: field}`` for every column, "-" for an ignored one (the importer's
        override format, so an ignored column is not mapped again by its synonyms)."""
        return {h: self.cleaned_data[f"col_{i}"] for i, h in enumerate(self.headers)}
