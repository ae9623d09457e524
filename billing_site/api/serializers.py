"""Shared serializer pieces and the core app's serializers."""

from __future__ import annotations

import math
from decimal import Decimal, DecimalException

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.encoding import smart_str
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing_site.api.date_fields import DateField, DateTimeField
from billing_site.models import TAX_RATE_PLACES, Contact, Organization, validate_tax_rate
from billing_site.money import parse_decimal
from billing_site.services import CONTACT_FIELDS, ORGANIZATION_FIELDS


class DecimalNumberField(serializers.DecimalField):
    """DRF's DecimalField, with the number checked before DRF quantizes it: finite and
    within the column (or ``min_value``/``max_value``), by ``money.parse_decimal``, whose
    message says the range and places ("NaN" or 1e25 are a 400 that says what fits).
    Too many places keep DRF's own message."""

    def to_internal_value(self, data):
        text = smart_str(data).strip()
        if len(text) <= self.MAX_STRING_LENGTH:
            maximum = self.max_value
            if maximum is None and self.max_digits is None:
                maximum = Decimal(1).scaleb(28 - (self.decimal_places or 0)) - 1
            try:
                parse_decimal(
                    text,
                    places=self.decimal_places or 0,
                    max_digits=self.max_digits,
                    maximum=maximum,
                    minimum=self.min_value,
                    label=(self.field_name or "value").replace("_", " "),
                )
            except DjangoValidationError as error:
                if error.code != "places":
                    raise serializers.ValidationError(error.messages, code=error.code) from error
        return super().to_internal_value(data)


class TaxRateField(serializers.DecimalField):
    """A tax rate: out of range (1e25, NaN, Infinity) is "between 0 and 100", checked
    before DRF quantizes (which, with no digit count, overflowed: a 500)."""

    def to_internal_value(self, data):
        text = smart_str(data).strip()
        if len(text) <= self.MAX_STRING_LENGTH:
            try:
                rate = Decimal(text)
            except DecimalException:
                rate = None  # DRF says "A valid number is required."
            if rate is not None and (not rate.is_finite() or not 0 <= rate <= 100):
                try:
                    validate_tax_rate(rate)
                except DjangoValidationError as error:
                    raise serializers.ValidationError(error.messages, code=error.code) from error
        return super().to_internal_value(data)


def _overflowing_ids(serializer, data) -> dict[str, list[str]]:
    """Related fields given a JSON number too large for a float (1e400 reads as
    infinity): DRF's lookup calls int() on it and OverflowError escapes as a 500."""
    if not hasattr(data, "get"):
        return {}
    errors = {}
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.RelatedField | serializers.ManyRelatedField):
            value = data.get(name)
            values = value if isinstance(value, list) else [value]
            if any(isinstance(item, float) and not math.isfinite(item) for item in values):
                errors[name] = ["Give the id as a whole number; this one overflows."]
    return errors


class StrictSerializerMixin:
    """Rejects fields the endpoint does not know, instead of silently dropping them."""

    def to_internal_value(self, data):
        unknown: dict[str, list[str]] = {}
        if hasattr(data, "keys"):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {name: ["Unknown field."] for name in sorted(set(data.keys()) - known)}
        overflowing = _overflowing_ids(self, data)
        if overflowing:
            raise serializers.ValidationError({**overflowing, **unknown})
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: DecimalNumberField,
        # Dates in the storable range, and a date-time no zone can hold says the range too.
        models.DateField: DateField,
        models.DateTimeField: DateTimeField,
    }


def tax_rate_field(**kwargs) -> serializers.DecimalField:
    """A tax rate in percent: a decimal string, 0 to 100, at most four places. No digit
    count (max_digits): 1000 is refused as "between 0 and 100", the clearer reason."""
    return TaxRateField(
        max_digits=None,
        decimal_places=TAX_RATE_PLACES,
        validators=[validate_tax_rate],
        **kwargs,
    )


class OrganizationSerializer(StrictModelSerializer):
    tax_rate = tax_rate_field(
        required=False,
        allow_null=True,
        help_text="Percent, e.g. 21.0000; null: the tenant's default tax rate.",
    )

    class Meta:
        model = Organization
        fields = ["id", *ORGANIZATION_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"currency": {"required": False}, "time_zone": {"required": False}}


class ContactSerializer(StrictModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", *CONTACT_FIELDS]
        read_only_fields = ["id"]


@extend_schema_field(OpenApiTypes.INT)
class StaffMemberField(serializers.PrimaryKeyRelatedField):
    """A user id that must be a staff member of the current tenant. Another tenant's user
    and an id that does not exist get the same answer, so ids reveal nothing."""

    default_error_messages = {
        "does_not_exist": "No staff member of this company has id {pk_value}.",
        "incorrect_type": "Send a user id (a number).",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", None)
        if kwargs.get("read_only"):
            kwargs.pop("queryset")
        super().__init__(**kwargs)

    def get_queryset(self):
        from billing_site.models import User
        from billing_site.roles import STAFF_ROLES
        from billing_site.tenancy import require_current_tenant

        return User.objects.filter(
            memberships__tenant=require_current_tenant(), memberships__role__in=STAFF_ROLES
        ).distinct()
