"""The staff navigation: one list, filtered by role. Apps add their entries here."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from .roles import Cap, role_can


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capability: str | None
    icon: str
    section: str = "Work"


SECTION_ORDER = ["Overview", "Customers", "Work", "Billing", "Settings"]

NAV_ITEMS: list[NavItem] = [
    NavItem("Dashboard", "dashboard", None, "dashboard", "Overview"),
    NavItem("Customers", "customer-list", Cap.VIEW_CUSTOMERS, "customers", "Customers"),
    NavItem("Company settings", "tenant-settings", Cap.MANAGE_TENANT, "settings", "Settings"),
    NavItem("Users", "staff-users", Cap.MANAGE_TENANT, "staff-users", "Settings"),
    NavItem(
        "Integrations", "integrations:connections", Cap.MANAGE_TENANT, "integrations", "Settings"
    ),
    NavItem("Audit log", "audit:log", Cap.VIEW_BILLING, "audit", "Settings"),
    NavItem("Delivery log", "integrations:deliveries", Cap.VIEW_BILLING, "deliveries", "Billing"),
    NavItem("Invoices", "invoices:invoice-list", Cap.VIEW_BILLING, "invoices", "Billing"),
    NavItem("Receivables", "invoices:receivables", Cap.VIEW_BILLING, "receivables", "Billing"),
    NavItem("Clients & Computers", "sessions:host-list", Cap.VIEW_WORK, "hosts", "Work"),
    NavItem("Session logs", "sessions:session-list", Cap.VIEW_WORK, "session-logs", "Work"),
    NavItem("Import sessions", "sessions:session-import", Cap.LOG_WORK, "session-import", "Work"),
    NavItem("Portal users", "portal:users", Cap.MANAGE_CUSTOMERS, "portal-users", "Customers"),
    NavItem("Contracts", "contracts:contract-list", Cap.VIEW_BILLING, "contracts", "Billing"),
    NavItem("Tickets", "contracts:ticket-list", Cap.VIEW_WORK, "tickets", "Work"),
    NavItem("Timesheet", "contracts:timesheet", Cap.LOG_WORK, "timesheet", "Work"),
    NavItem("Approvals", "contracts:approvals", Cap.MANAGE_WORK, "approvals", "Work"),
    NavItem("Rate rules", "contracts:rate-rule-list", Cap.VIEW_BILLING, "rate-rules", "Billing"),
    NavItem("Catalog", "contracts:catalog", Cap.VIEW_BILLING, "catalog", "Billing"),
    NavItem("Invoice batches", "invoices:batch-list", Cap.VIEW_BILLING, "batches", "Billing"),
    NavItem("Reports", "reports:index", Cap.VIEW_BILLING, "reports", "Billing"),
]


def nav_for(role: str | None, current_path: str) -> list[dict]:
    sections: dict[str, list[dict]] = {}
    entries = []
    for item in NAV_ITEMS:
        if not role_can(role, item.capability):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        entry = {"label": item.label, "url": url, "icon": item.icon, "active": False}
        entries.append(entry)
        sections.setdefault(item.section, []).append(entry)
    # Only the deepest matching entry is active (/invoices/batches/ is not also /invoices/).
    matching = [
        e
        for e in entries
        if current_path == e["url"] or (e["url"] != "/" and current_path.startswith(e["url"]))
    ]
    if matching:
        max(matching, key=lambda e: len(e["url"]))["active"] = True
    ordered = sorted(
        sections.items(),
        key=lambda kv: SECTION_ORDER.index(kv[0]) if kv[0] in SECTION_ORDER else len(SECTION_ORDER),
    )
    return [{"title": title, "items": items} for title, items in ordered]
