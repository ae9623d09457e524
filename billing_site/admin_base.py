"""Django admin is for superusers and spans tenants, so it reads through ``all_tenants``."""

from django.contrib import admin


class CrossTenantAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return self.model.all_tenants.all()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if hasattr(related, "all_tenants"):
            kwargs.setdefault("queryset", related.all_tenants.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        related = db_field.related_model
        if hasattr(related, "all_tenants"):
            kwargs.setdefault("queryset", related.all_tenants.all())
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser
