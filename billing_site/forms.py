"""Form bases: model-choice fields re-scoped to the request's tenant on every form."""

from django import forms
from django.core.exceptions import ValidationError

from billing_site.tenancy import get_current_tenant, rescope_queryset
from billing_site.uploads import check_logo

from .models import Contact, Organization, Tenant, validate_tax_rate
from .money import currency_choices, delocalize_number, largest_number, number_rule
from .services import ORGANIZATION_FIELDS, TENANT_FIELDS


def tax_rate_field(**kwargs) -> forms.DecimalField:
    """A percentage from 0 to 100 with up to four decimals, with one clear error for each
    (no digit-count message: a rate of 1000 is "between 0 and 100", not "too many digits")."""
    return forms.DecimalField(
        validators=[validate_tax_rate],
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "max": "100"}),
        error_messages={"invalid": "Enter a percentage between 0 and 100, e.g. 21 or 7.65."},
        **kwargs,
    )


def say_what_fits(field: forms.DecimalField) -> forms.DecimalField:
    """ "NaN" or "abc" in a number field: the error says what fits ("Enter a number from
    0 to 99999999.99, 2 decimal places at most."), not only "Enter a number."."""
    if field.max_digits is not None and field.decimal_places is not None:
        maximum = field.max_value
        if maximum is None:
            maximum = largest_number(max_digits=field.max_digits, places=field.decimal_places)
        rule = number_rule(places=field.decimal_places, maximum=maximum, minimum=field.min_value)
        field.error_messages["invalid"] = f"Enter a number {rule}."
    return field


def types_local_numbers(field: forms.Field) -> bool:
    """A number typed as text (a browser's number input always sends "1650.00")."""
    if isinstance(field.widget, forms.NumberInput | forms.HiddenInput):
        return False
    return isinstance(field, forms.DecimalField | forms.IntegerField) or field.widget.attrs.get(
        "inputmode"
    ) in ("decimal", "numeric")


class TenantScopedFormMixin:
    """Choice querysets are built at import time with no tenant; rebuild them per form.

    Numbers typed as text are read in the tenant's locale ("650,00" in French), so a
    bound form's data holds them as plain decimals before any field sees them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            queryset = getattr(field, "queryset", None)
            if queryset is not None:
                field.queryset = rescope_queryset(queryset)
            if isinstance(field, forms.DecimalField):
                say_what_fits(field)
        self._delocalize_numbers()

    def _delocalize_numbers(self) -> None:
        tenant = get_current_tenant()
        if not self.is_bound or tenant is None:
            return
        keys = [
            self.add_prefix(name)
            for name, field in self.fields.items()
            if types_local_numbers(field) and self.add_prefix(name) in self.data
        ]
        if not keys:
            return
        data = self.data.copy()
        for key in keys:
            data[key] = delocalize_number(data[key], tenant.locale)
        self.data = data


class TenantModelForm(TenantScopedFormMixin, forms.ModelForm):
    pass


class TenantForm(TenantScopedFormMixin, forms.Form):
    pass


class OrganizationForm(TenantModelForm):
    currency = forms.ChoiceField(choices=currency_choices)
    tax_rate = tax_rate_field(
        label="Tax rate (%)",
        required=False,
        help_text=Organization._meta.get_field("tax_rate").help_text,
    )

    class Meta:
        model = Organization
        fields = list(ORGANIZATION_FIELDS)
        widgets = {
            "street": forms.Textarea(attrs={"rows": 3}),
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


class LogoField(forms.ImageField):
    """A logo upload: size and image type checked (``uploads.check_logo``) before Pillow
    reads the whole image; SVG and other formats are refused with a clear message."""

    def to_python(self, data):
        if data not in self.empty_values:
            try:
                check_logo(data)
            except ValidationError as error:
                raise forms.ValidationError(error.message_dict["logo"]) from error
        return super().to_python(data)


class TenantSettingsForm(forms.ModelForm):
    """Company details printed on invoices, defaults and branding (owners only)."""

    logo = LogoField(required=False, help_text="PNG, JPEG, GIF or WebP.")

    currency = forms.ChoiceField(choices=currency_choices)
    default_tax_rate = tax_rate_field(
        label="Default tax rate (%)",
        help_text=Tenant._meta.get_field("default_tax_rate").help_text,
    )

    class Meta:
        from .models import Tenant

        model = Tenant
        fields = list(TENANT_FIELDS)
        widgets = {
            "street": forms.Textarea(attrs={"rows": 3}),
            "default_payment_instructions": forms.Textarea(attrs={"rows": 3}),
            "brand_color": forms.TextInput(attrs={"type": "color"}),
            "invoice_email_body": forms.Textarea(attrs={"rows": 8}),
            "reminder_email_body": forms.Textarea(attrs={"rows": 8}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        say_what_fits(self.fields["default_hourly_rate"])

    def clean_country(self):
        return (self.cleaned_data.get("country") or "").upper()

    def clean_locale(self):
        from babel import Locale, UnknownLocaleError

        value = self.cleaned_data["locale"]
        try:
            Locale.parse(value)
        except (UnknownLocaleError, ValueError) as exc:
            raise forms.ValidationError("Unknown locale; use a code like fr_FR or da_DK.") from exc
        return value


class StaffUserForm(forms.Form):
    """Add a staff login to the tenant."""

    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField()
    role = forms.ChoiceField()
    password = forms.CharField(widget=forms.PasswordInput, min_length=10)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .roles import STAFF_ROLES, Role

        self.fields["role"].choices = [(r.value, r.label) for r in Role if r in STAFF_ROLES]
