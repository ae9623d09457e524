"""Numbers sent to the providers are exactly ours."""

from decimal import Decimal

import pytest

from integrations.core.errors import Refused
from integrations.core.remote import json_number


@pytest.mark.parametrize("value", ["477.00", "0.1250", "1234567890123.45", "-13.5000", "0"])
def test_amounts_survive_as_json_numbers(value):
    assert Decimal(repr(json_number(Decimal(value)))) == Decimal(value)


def test_more_digits_than_a_json_number_keeps_are_refused():
    with pytest.raises(Refused, match="significant digits"):
        json_number(Decimal("12345678901234.567"))
