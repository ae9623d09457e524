from __future__ import annotations

from rest_framework import serializers

from billing_site.api.serializers import StrictModelSerializer, StrictSerializerMixin

from ..core.models import (
    Connection,
    CustomerSchedule,
    Delivery,
    DeliveryAttempt,
    Mapping,
    MappingKind,
    Provider,
)


class ConnectionSerializer(serializers.ModelSerializer):
    next_run = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "provider",
            "status",
            "external_id",
            "external_name",
            "auto_export",
            "schedule",
            "schedule_day",
            "next_run",
            "connected_at",
            "last_synced_at",
            "last_error",
            "broken_at",
        ]
        read_only_fields = fields

    def get_next_run(self, connection) -> str | None:
        """The next monthly send day (tenant's zone), or null when sent on finalisation."""
        from ..core.selectors import next_run

        day = next_run(connection)
        return day.isoformat() if day else None


class ScheduleSerializer(StrictSerializerMixin, serializers.Serializer):
    schedule = serializers.ChoiceField(choices=["on_finalise", "monthly", "off"])
    schedule_day = serializers.IntegerField(
        min_value=1, max_value=31, required=False, allow_null=True
    )


class CustomerScheduleSerializer(StrictModelSerializer):
    mode = serializers.ChoiceField(choices=["global", "custom", "off"])
    day = serializers.IntegerField(min_value=1, max_value=31, required=False, allow_null=True)

    class Meta:
        model = CustomerSchedule
        fields = ["id", "connection", "organization", "mode", "day"]
        read_only_fields = ["id"]
        # POST sets the customer's schedule whether or not it has one yet.
        validators = []


class ConnectionUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    auto_export = serializers.BooleanField()


class MappingSerializer(StrictModelSerializer):
    system = serializers.ChoiceField(choices=Provider.choices)
    kind = serializers.ChoiceField(choices=MappingKind.choices)
    local_key = serializers.CharField(max_length=100, allow_blank=True)
    external_id = serializers.CharField(
        max_length=100, allow_blank=True, required=False, default=""
    )
    external_name = serializers.CharField(
        max_length=200, allow_blank=True, required=False, default=""
    )

    class Meta:
        model = Mapping
        fields = [
            "id",
            "system",
            "kind",
            "local_key",
            "external_id",
            "external_name",
            "origin",
            "updated_at",
        ]
        read_only_fields = ["id", "origin", "updated_at"]


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "finished_at", "outcome", "http_status", "message"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="connection.provider", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True, default=None)
    drift = serializers.DecimalField(
        max_digits=18, decimal_places=3, read_only=True, allow_null=True
    )
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "connection",
            "provider",
            "action",
            "invoice",
            "invoice_number",
            "revision",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "external_id",
            "external_number",
            "our_total",
            "their_total",
            "drift",
            "their_status",
            "summary",
            "created_at",
            "updated_at",
            "done_at",
            "attempt_log",
        ]
        read_only_fields = fields


class SendNowSerializer(serializers.Serializer):
    period = serializers.DateField()
    queued = serializers.ListField(child=serializers.IntegerField())
    retried = serializers.ListField(child=serializers.IntegerField())
    already_sent = serializers.ListField(child=serializers.IntegerField())
    on_its_way = serializers.ListField(child=serializers.IntegerField())
    message = serializers.CharField()
