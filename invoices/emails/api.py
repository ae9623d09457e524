"""E-mail through the API: serializers of the invoice and batch ``send`` actions."""

from __future__ import annotations

from rest_framework import serializers

from billing_site.api.serializers import StrictModelSerializer, StrictSerializerMixin

from .models import InvoiceEmail


class InvoiceEmailSerializer(StrictModelSerializer):
    to = serializers.SerializerMethodField()
    cc = serializers.SerializerMethodField()

    class Meta:
        model = InvoiceEmail
        fields = [
            "id",
            "invoice",
            "to",
            "cc",
            "subject",
            "status",
            "attempts",
            "message_id",
            "error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields

    def get_to(self, email) -> list[str]:
        return email.recipients

    def get_cc(self, email) -> list[str]:
        return email.copies


class InvoiceSendSerializer(StrictSerializerMixin, serializers.Serializer):
    """Each field left out takes the tenant's template and the customer's contacts."""

    to = serializers.ListField(child=serializers.CharField(max_length=254), required=False)
    cc = serializers.ListField(child=serializers.CharField(max_length=254), required=False)
    subject = serializers.CharField(max_length=250, required=False)
    body = serializers.CharField(required=False)
