import datetime as dt

from rest_framework import serializers

from ..models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    """One recorded change. ``actor`` is the user's id, null for the system (then
    ``actor_name`` names the task); ``before`` and ``after`` hold the changed fields only
    (Decimals as strings, references as ``{"id", "label"}``); ``created_at`` is UTC."""

    created_at = serializers.DateTimeField(default_timezone=dt.UTC, read_only=True)
    before = serializers.JSONField(read_only=True, allow_null=True)
    after = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_label",
            "parent_type",
            "parent_id",
            "before",
            "after",
        ]
        read_only_fields = fields
