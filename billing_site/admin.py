from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import models

from .admin_base import CrossTenantAdmin
from .forms import LogoField
from .models import Contact, Membership, Organization, Tenant, User

admin.site.register(User, UserAdmin)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "time_zone", "country"]
    search_fields = ["name", "slug"]
    # The same logo checks as the settings page: size, PNG/JPEG/GIF/WebP, no SVG.
    formfield_overrides = {models.ImageField: {"form_class": LogoField}}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "organization"]
    list_filter = ["role", "tenant"]
    raw_id_fields = ["user", "organization", "contact"]

    def save_model(self, request, obj, form, change):
        # A role change is a billing-relevant change: through the service that records it.
        if change and "role" in form.changed_data:
            from .services import membership_role_set

            role = obj.role
            obj.role = form.initial["role"]
            super().save_model(request, obj, form, change)
            membership_role_set(membership=obj, role=role)
            obj.refresh_from_db()
            return
        super().save_model(request, obj, form, change)


@admin.register(Organization)
class OrganizationAdmin(CrossTenantAdmin):
    list_display = ["name", "company_number", "tenant", "currency", "is_active"]
    list_filter = ["tenant", "is_active"]
    search_fields = ["name", "company_number"]
    readonly_fields = ["tenant"]


@admin.register(Contact)
class ContactAdmin(CrossTenantAdmin):
    list_display = ["name", "organization", "email", "tenant"]
    list_filter = ["tenant"]
    readonly_fields = ["tenant"]
