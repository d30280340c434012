from django.contrib import admin

from guanxi.customers.models import (
    Consent,
    Customer,
    CustomerEvent,
    ExternalId,
    ImportantDate,
    Interaction,
    MemoryNote,
    Tag,
)


class ExternalIdInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ExternalId
    extra = 0


class NoteInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MemoryNote
    extra = 0
    fields = ("category", "text", "pinned", "created_at")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    # The scores are the latest values of the value engine (``customer.value``, a view).
    list_display = ("name", "kind", "phone", "email", "city", "owner", "value__lifecycle_stage",
                    "value__value_tier", "value__clv")
    list_select_related = ("owner", "value")
    list_filter = ("kind", "value__lifecycle_stage", "value__value_tier", "income_band",
                   "source", "is_active", "owner")
    search_fields = ("name", "name_pinyin", "name_initials", "phone", "email",
                     "external_ids__value")
    raw_id_fields = ("owner", "referred_by", "organization", "merged_into")
    readonly_fields = ("name_pinyin", "name_initials", "created_at", "updated_at")
    inlines = [ExternalIdInline, NoteInline]
    show_full_result_count = False  # no COUNT(*) over a million rows on every page


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    search_fields = ("name",)


@admin.register(ExternalId)
class ExternalIdAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("source", "value", "customer", "is_alias")
    list_filter = ("source", "is_alias")
    search_fields = ("value",)
    raw_id_fields = ("customer",)


@admin.register(ImportantDate)
class ImportantDateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("customer", "kind", "label", "date", "is_lunar", "yearly")
    list_filter = ("kind", "is_lunar", "yearly")
    search_fields = ("customer__name", "label")
    raw_id_fields = ("customer",)


@admin.register(MemoryNote)
class MemoryNoteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("customer", "category", "pinned", "text", "author", "created_at")
    list_filter = ("category", "pinned")
    search_fields = ("customer__name", "text")
    raw_id_fields = ("customer", "author")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("customer", "channel", "direction", "subject", "occurred_at", "author")
    list_filter = ("channel", "direction")
    search_fields = ("customer__name", "subject", "outcome")
    raw_id_fields = ("customer", "author")
    date_hierarchy = "occurred_at"


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("customer", "channel", "purpose", "granted", "recorded_at", "source")
    list_filter = ("channel", "purpose", "granted")
    search_fields = ("customer__name",)
    raw_id_fields = ("customer",)


@admin.register(CustomerEvent)
class CustomerEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("customer", "type", "occurred_at", "actor")
    list_filter = ("type",)
    search_fields = ("customer__name",)
    raw_id_fields = ("customer", "actor")
    date_hierarchy = "occurred_at"
