"""Rates (DESIGN.md, Rates): a rule matches an item when every scope it names matches;
the most specific wins (contract, then organization, technician, team, service type);
the tenant's default rate is the fallback in its currency. ``RateBook`` loads every rule
once (2 queries) and resolves in Python; ``explain_*`` shows the matches and the winner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing_site.money import (
    format_unit_price,
)
from billing_site.tenancy import require_current_tenant

from ..choices import ContractType
from ..models import Contract, RateRule, TeamMember, TimeEntry

SCOPE_LABELS = {
    "contract": "contract",
    "organization": "organization",
    "technician": "technician",
    "team": "team",
    "service_type": "service type",
}


@dataclass(frozen=True)
class RateContext:
    """What a rate rule is matched against."""

    currency: str
    contract_id: int | None = None
    organization_id: int | None = None
    technician_id: int | None = None
    team_ids: frozenset[int] = frozenset()
    service_type_id: int | None = None


@dataclass(frozen=True)
class RateResolution:
    rate: Decimal | None
    rule: RateRule | None
    source: str  # "rule", "tenant_default" or "missing"
    matches: tuple[RateRule, ...]
    explanation: str


def rule_matches(rule: RateRule, context: RateContext) -> bool:
    """Every scope the rule names matches the item, and the currencies agree."""
    if rule.currency != context.currency:
        return False
    if rule.contract_id is not None and rule.contract_id != context.contract_id:
        return False
    if rule.organization_id is not None and rule.organization_id != context.organization_id:
        return False
    if rule.technician_id is not None and rule.technician_id != context.technician_id:
        return False
    if rule.team_id is not None and rule.team_id not in context.team_ids:
        return False
    return rule.service_type_id is None or rule.service_type_id == context.service_type_id


def specificity(rule: RateRule) -> tuple[bool, ...]:
    """Lexicographic key: contract, organization, technician, team, service type named."""
    return rule.scope_key


def describe_rule(rule: RateRule, locale: str = "en_US") -> str:
    """A rule as an explanation names it: by its description (else its scopes), never by
    its id; the rate it sets is printed beside it, in ``locale``, by the caller."""
    scopes = f" ({rule.scope_label})" if rule.description else ""
    return f"rule “{rule.label}”{scopes}"


class RateBook:
    """All rate rules of the tenant and who is in which team: loaded once, resolved in Python."""

    def __init__(self, rules: Iterable[RateRule], teams_by_user: dict[int, frozenset[int]], tenant):
        self.rules = list(rules)
        self.teams_by_user = teams_by_user
        self.default_rate = tenant.default_hourly_rate
        self.default_currency = tenant.currency
        # Explanations print rates as the tenant's invoices print money.
        self.locale = getattr(tenant, "locale", "") or "en_US"
        # Most specific first once (ties, which saving refuses, by id): matching keeps order.
        self._ordered = sorted(
            self.rules, key=lambda rule: (tuple(not flag for flag in specificity(rule)), rule.pk)
        )
        # Resolutions per distinct context: a batch resolves the same few thousand contexts
        # for hundreds of thousands of entries. The book is read-only once loaded.
        self._resolved: dict[RateContext, RateResolution] = {}
        self._by_entry: dict[tuple, RateResolution] = {}

    def teams_of(self, user_id: int | None) -> frozenset[int]:
        return self.teams_by_user.get(user_id, frozenset()) if user_id else frozenset()

    def matching(self, context: RateContext) -> list[RateRule]:
        """Matching rules, most specific first (ties, which saving refuses, by id)."""
        return [rule for rule in self._ordered if rule_matches(rule, context)]

    def resolve(self, context: RateContext) -> RateResolution:
        resolution = self._resolved.get(context)
        if resolution is None:
            resolution = self._resolved[context] = self._resolve(context)
        return resolution

    def resolve_entry(self, entry, contract: Contract) -> RateResolution:
        """``resolve`` for a time entry on ``contract``, memoised on the fields the
        context is made of (teams follow from the technician)."""
        key = (
            contract.currency,
            entry.contract_id,
            contract.customer_id,
            entry.technician_id,
            entry.service_type_id,
        )
        resolution = self._by_entry.get(key)
        if resolution is None:
            context = entry_rate_context(entry, contract, self)
            resolution = self._by_entry[key] = self.resolve(context)
        return resolution

    def _resolve(self, context: RateContext) -> RateResolution:
        matches = self.matching(context)
        if matches:
            winner = matches[0]
            return RateResolution(
                winner.rate,
                winner,
                "rule",
                tuple(matches),
                f"rate {format_unit_price(winner.rate, winner.currency, self.locale)}/h "
                f"from {describe_rule(winner, self.locale)}",
            )
        if context.currency == self.default_currency:
            return RateResolution(
                self.default_rate,
                None,
                "tenant_default",
                (),
                f"rate {format_unit_price(self.default_rate, self.default_currency, self.locale)}"
                "/h (tenant default, no rule matched)",
            )
        return RateResolution(
            None,
            None,
            "missing",
            (),
            f"no rate rule in {context.currency} matches and the tenant default is in "
            f"{self.default_currency}: add a rate rule in {context.currency}",
        )


def load_rate_book() -> RateBook:
    """The tenant's rate rules (with their scope objects) and team memberships: 2 queries."""
    tenant = require_current_tenant()
    rules = RateRule.objects.select_related(
        "contract", "organization", "technician", "team", "service_type"
    ).order_by("id")
    teams: dict[int, set[int]] = defaultdict(set)
    for user_id, team_id in TeamMember.objects.values_list("user_id", "team_id"):
        teams[user_id].add(team_id)
    return RateBook(rules, {user: frozenset(ids) for user, ids in teams.items()}, tenant)


def entry_rate_context(entry: TimeEntry, contract: Contract, book: RateBook) -> RateContext:
    return RateContext(
        currency=contract.currency,
        contract_id=contract.pk,
        organization_id=contract.customer_id,
        technician_id=entry.technician_id,
        team_ids=book.teams_of(entry.technician_id),
        service_type_id=entry.service_type_id,
    )


@dataclass
class RateExplanation:
    """Which rules match an item and which one wins (for the explain view and API)."""

    subject: str
    context: RateContext
    matches: list[RateRule]
    winner: RateRule | None
    rate: Decimal | None
    source: str
    explanation: str
    facts: list[tuple[str, str]]
    applied_note: str = ""


def _explain(subject: str, context: RateContext, facts, book: RateBook) -> RateExplanation:
    resolution = book.resolve(context)
    return RateExplanation(
        subject=subject,
        context=context,
        matches=list(resolution.matches),
        winner=resolution.rule,
        rate=resolution.rate,
        source=resolution.source,
        explanation=resolution.explanation,
        facts=facts,
    )


def explain_time_entry(entry: TimeEntry, *, book: RateBook | None = None) -> RateExplanation:
    """Matching rules and the winner for a time entry, in its contract's currency."""
    book = book or load_rate_book()
    contract = entry.contract
    context = entry_rate_context(entry, contract, book)
    teams = ", ".join(str(team) for team in entry.technician.teams.filter(pk__in=context.team_ids))
    facts = [
        ("Contract", str(contract)),
        ("Organization", str(contract.customer)),
        ("Technician", entry.technician.get_full_name() or entry.technician.username),
        ("Teams", teams or "—"),
        ("Service type", str(entry.service_type or "—")),
        ("Currency", contract.currency),
    ]
    result = _explain(f"Time entry {entry.pk}", context, facts, book)
    if contract.contract_type in (ContractType.RETAINER, ContractType.BLOCK_HOURS):
        result.applied_note = (
            f"This {contract.get_contract_type_display().lower()} contract bills time beyond its "
            f"{'included hours' if contract.contract_type == ContractType.RETAINER else 'block'} "
            "at its overage rate "
            f"{format_unit_price(contract.overage_rate or 0, contract.currency, book.locale)}/h; "
            "rate rules "
            "price hourly work."
        )
    return result


def explain_session(session, *, book: RateBook | None = None) -> RateExplanation:
    """Matching rules and the winner for a remote session (organization = the host's owner).

    A session logged as a time entry is priced as that entry; otherwise it is priced in
    the currency of the host's organization (else the tenant's).
    """
    book = book or load_rate_book()
    linked = getattr(session, "time_entry", None)
    if linked is not None:
        result = explain_time_entry(linked, book=book)
        result.subject = f"Session {session.pk} (logged as time entry {linked.pk})"
        return result
    organization = session.host.organization
    currency = organization.currency if organization else book.default_currency
    technician = session.technician
    context = RateContext(
        currency=currency,
        organization_id=organization.pk if organization else None,
        technician_id=technician.pk if technician else None,
        team_ids=book.teams_of(technician.pk if technician else None),
    )
    facts = [
        ("Host", str(session.host)),
        ("Organization", str(organization or "—")),
        ("Technician", (technician.get_full_name() or technician.username) if technician else "—"),
        ("Currency", currency),
    ]
    return _explain(f"Session {session.pk}", context, facts, book)
