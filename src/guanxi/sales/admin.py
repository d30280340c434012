from django.contrib import admin

from guanxi.sales.models import Order, OrderLine, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("sku", "name", "category", "unit_price", "currency")
    list_filter = ("category",)
    search_fields = ("sku", "name")


class OrderLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("external_id", "customer", "placed_at", "status", "total", "currency",
                    "channel")
    list_filter = ("status", "channel", "currency")
    search_fields = ("external_id", "customer__name")
    raw_id_fields = ("customer",)
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline]
    show_full_result_count = False
