"""Shared serializer pieces and the core app's serializers."""

from __future__ import annotations

from rest_framework import serializers

from billing_site.models import TAX_RATE_PLACES, Contact, Organization, validate_tax_rate
from billing_site.services import CONTACT_FIELDS, ORGANIZATION_FIELDS


class StrictSerializerMixin:
    """Rejects fields the endpoint does not know, instead of silently dropping them."""

    def to_internal_value(self, data):
        unknown: dict[str, list[str]] = {}
        if hasattr(data, "keys"):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {name: ["Unknown field."] for name in sorted(set(data.keys()) - known)}
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
    pass


def tax_rate_field(**kwargs) -> serializers.DecimalField:
    """A tax rate in percent: a decimal string, 0 to 100, at most four places. No digit
    count (max_digits): 1000 is refused as "between 0 and 100", the clearer reason."""
    return serializers.DecimalField(
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
