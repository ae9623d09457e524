"""The systems the engine can push to: client class and mapping module."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from .models import Provider


@dataclass(frozen=True)
class ProviderSpec:
    key: str
    label: str
    client: type
    mapping: ModuleType


def provider(key: str) -> ProviderSpec:
    if key == Provider.QUICKBOOKS:
        from integrations.quickbooks import client, mapping

        return ProviderSpec(key, Provider.QUICKBOOKS.label, client.QuickBooksClient, mapping)
    if key == Provider.XERO:
        from integrations.xero import client, mapping

        return ProviderSpec(key, Provider.XERO.label, client.XeroClient, mapping)
    if key == Provider.CONNECTWISE:
        from integrations.connectwise import client, mapping

        return ProviderSpec(key, Provider.CONNECTWISE.label, client.ConnectWiseClient, mapping)
    raise KeyError(key)
