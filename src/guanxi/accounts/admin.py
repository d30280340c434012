from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from guanxi.accounts.models import ApiToken, User


@admin.register(User)
class GuanxiUserAdmin(UserAdmin):  # type: ignore[type-arg]  # django-stubs: UserAdmin is generic
    list_display = ("username", "email", "role", "manager", "is_active")
    list_filter = ("role", "is_active")
    fieldsets = (*(UserAdmin.fieldsets or ()), ("guanxi", {"fields": ("role", "manager")}))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("digest", "prefix")
