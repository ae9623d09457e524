"""Output serializers of the portal API (read-only; the portal writes nothing).

Date-times are given in the viewer organization's zone (``context["zone"]``); dates
without a time as stored; hours as decimal strings with two places, like the page.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from billing_site.timeutils import to_zone
from contracts.selectors_portal import seconds_to_hours


def _zoned(value, context):
    return to_zone(value, context["zone"]).isoformat() if value else None


def _absolute(context, name: str, pk: int) -> str:
    path = reverse(name, kwargs={"pk": pk})
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


def _contact(contact):
    if contact is None:
        return None
    return {"name": contact.name, "email": contact.email}


class TicketRowSerializer(serializers.Serializer):
    """A row of a ticket list (own or end-client)."""

    id = serializers.IntegerField(source="pk")
    number = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    contact = serializers.SerializerMethodField()
    assigned_to = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()
    due_date = serializers.DateField()
    url = serializers.SerializerMethodField()

    def get_contact(self, ticket) -> dict | None:
        return _contact(ticket.contact)

    def get_assigned_to(self, ticket) -> str:
        annotated = getattr(ticket, "assigned_name", None)
        return annotated if annotated is not None else _person(ticket.assigned_to)

    def get_created_at(self, ticket) -> str:
        return _zoned(ticket.created_at, self.context)

    def get_url(self, ticket) -> str:
        return _absolute(self.context, "portal-api:ticket-detail", ticket.pk)


class EndClientTicketSerializer(TicketRowSerializer):
    end_client = serializers.SerializerMethodField()
    hours_worked = serializers.SerializerMethodField()

    def get_end_client(self, ticket) -> dict:
        return {"id": ticket.organization_id, "name": ticket.organization.name}

    def get_hours_worked(self, ticket) -> str:
        return f"{seconds_to_hours(ticket.hours_seconds):.2f}"


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, attachment) -> str:
        return _absolute(self.context, "portal-api:attachment", attachment.pk)


class WorkEntrySerializer(serializers.Serializer):
    """A work-history item: summary note only; hours only once the entry is posted."""

    id = serializers.IntegerField(source="pk")
    work_date = serializers.DateField()
    started_at = serializers.SerializerMethodField()
    resource = serializers.SerializerMethodField()
    summary_note = serializers.CharField()
    posted = serializers.SerializerMethodField()
    hours_worked = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, source="attachments.all")

    def get_started_at(self, entry) -> str | None:
        return _zoned(entry.started_at, self.context)

    def get_resource(self, entry) -> str:
        return _person(entry.technician)

    def get_posted(self, entry) -> bool:
        return entry.hours is not None

    def get_hours_worked(self, entry) -> str | None:
        return f"{entry.hours:.2f}" if entry.hours is not None else None


class TicketDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="ticket.pk")
    number = serializers.IntegerField(source="ticket.number")
    title = serializers.CharField(source="ticket.title")
    is_end_client = serializers.BooleanField()
    organization = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()
    status = serializers.CharField(source="ticket.status")
    status_label = serializers.CharField(source="ticket.get_status_display")
    contact = serializers.SerializerMethodField()
    assigned_to = serializers.SerializerMethodField()
    due_date = serializers.DateField(source="ticket.due_date")
    description = serializers.CharField(source="ticket.description")
    work_history = WorkEntrySerializer(many=True, source="entries")
    attachments = AttachmentSerializer(many=True)

    def get_organization(self, detail) -> dict:
        return {"id": detail.ticket.organization_id, "name": detail.ticket.organization.name}

    def get_created_at(self, detail) -> str:
        return _zoned(detail.ticket.created_at, self.context)

    def get_contact(self, detail) -> dict | None:
        return _contact(detail.ticket.contact)

    def get_assigned_to(self, detail) -> str:
        return _person(detail.ticket.assigned_to)
