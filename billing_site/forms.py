"""Form bases: model-choice fields re-scoped to the request's tenant on every form."""

from django import forms

from billing_site.tenancy import rescope_queryset

from .models import Contact, Organization
from .money import currency_choices


class TenantScopedFormMixin:
    """Choice querysets are built at import time with no tenant; rebuild them per form."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            queryset = getattr(field, "queryset", None)
            if queryset is not None:
                field.queryset = rescope_queryset(queryset)


class TenantModelForm(TenantScopedFormMixin, forms.ModelForm):
    pass


class TenantForm(TenantScopedFormMixin, forms.Form):
    pass


class OrganizationForm(TenantModelForm):
    currency = forms.ChoiceField(choices=currency_choices)

    class Meta:
        model = Organization
        fields = [
            "name",
            "company_number",
            "billing_contact_name",
            "billing_contact_email",
            "address",
            "country",
            "time_zone",
            "currency",
            "language",
            "tax_id",
            "is_active",
        ]
        widgets = {
            "address": forms.Textarea(attrs={"rows": 3}),
            "time_zone": forms.Select(),
        }

    def __init__(self, *args, tenant=None, **kwargs):
        super().__init__(*args, **kwargs)
        from .models import TIME_ZONE_CHOICES

        self.fields["time_zone"].widget.choices = [("UTC", "UTC"), *TIME_ZONE_CHOICES]
        if tenant is not None and not self.instance.pk:
            self.initial.setdefault("currency", tenant.currency)
            self.initial.setdefault("time_zone", tenant.time_zone)
            self.initial.setdefault("country", tenant.country)
        self.fields["country"].help_text = "Two-letter ISO code, e.g. FR."

    def clean_country(self):
        return (self.cleaned_data.get("country") or "").upper()

    def _post_clean(self):
        # Services validate and save; the form only parses.
        pass


class ContactForm(TenantModelForm):
    class Meta:
        model = Contact
        fields = ["name", "email", "phone"]

    def _post_clean(self):
        pass
