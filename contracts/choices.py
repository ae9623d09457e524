"""Choices of the contracts app, kept apart so selectors and the batch engine can import them
without pulling models."""

from django.db import models


class ContractType(models.TextChoices):
    HOURLY = "hourly", "Hourly (time & materials)"
    RETAINER = "retainer", "Retainer (monthly minimum)"
    BLOCK_HOURS = "block_hours", "Block hours (prepaid)"
    RECURRING = "recurring", "Recurring services"


class BillingCycle(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    YEARLY = "yearly", "Yearly"


CYCLE_MONTHS = {BillingCycle.MONTHLY: 1, BillingCycle.QUARTERLY: 3, BillingCycle.YEARLY: 12}


class ContractStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    ENDED = "ended", "Ended"


class RoundingScope(models.TextChoices):
    ENTRY = "entry", "Each time entry"
    TICKET_DAY = "ticket_day", "Each ticket per day"
    PERIOD = "period", "Whole period"


class QuantityMode(models.TextChoices):
    FIXED = "fixed", "Fixed quantity"
    PER_DEVICE = "per_device", "Per device (customer's active hosts)"


class ChargeKind(models.TextChoices):
    RETAINER_FEE = "retainer_fee", "Retainer fee"
    PRODUCT = "product", "Recurring product line"


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING = "waiting", "Waiting"
    COMPLETE = "complete", "Complete"


class TimeEntryState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    POSTED = "posted", "Posted"


# Entries not yet posted: waiting for approval or posting, never billed.
UNPOSTED_STATES = [TimeEntryState.SUBMITTED, TimeEntryState.APPROVED]


class TimeEntrySource(models.TextChoices):
    MANUAL = "manual", "Manual entry"
    TIMER = "timer", "Timer"
    TIMESHEET = "timesheet", "Timesheet"
    SESSION = "session", "Remote session"


class BillingState(models.TextChoices):
    """A contract's state in an invoice batch as of a date (DESIGN.md: Due, locked, partial)."""

    SELECTABLE = "selectable", "Selectable"
    LOCKED = "locked", "Locked (period still open)"
    PARTIAL = "partial", "Partly locked"


class ItemKind(models.TextChoices):
    """Kinds of billable items of a contract, as the batch engine lists them."""

    TIME = "time", "Time entry"
    RETAINER_FEE = "retainer_fee", "Retainer fee"
    PRODUCT = "product", "Recurring product"
    BLOCK = "block", "Block purchase"
