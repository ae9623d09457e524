"""``UNSET``: "not given", for update services where ``None`` is a real value.

An update service takes every field it may change as a keyword-only parameter
defaulting to ``UNSET`` and changes only the fields it is given::

    def product_update(*, product: Product, name: str | Unset = UNSET, ...) -> Product:
        data = provided(name=name, ...)  # {"name": "X"} for product_update(..., name="X")

``contract_update(contract=c, end_date=None)`` therefore clears the end date, while
``contract_update(contract=c)`` leaves it as it is. ``UNSET`` is an enum member, so
it stays the one and only instance when copied or pickled, and type checkers narrow
``x is UNSET`` / ``x is not UNSET``.
"""

from __future__ import annotations

import enum
from typing import Any, Final, Literal


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
# For annotations: ``name: str | Unset = UNSET``.
Unset = Literal[_Unset.UNSET]


def provided(**fields: Any) -> dict[str, Any]:
    """The given fields: every keyword argument whose value is not ``UNSET``, in order."""
    return {name: value for name, value in fields.items() if value is not UNSET}
