"""PostgreSQL array parameters for set-wise statements (``unnest`` of parallel arrays).

A Python list becomes ``ARRAY[v1, v2, …]`` in the statement, which PostgreSQL parses
element by element: at a few hundred thousand values that alone takes seconds. One text
literal (``'{v1,v2,…}'``) cast to the array type parses several times faster.
"""

from __future__ import annotations

from collections.abc import Iterable


def array_literal(values: Iterable) -> str:
    """``values`` as an array literal: numbers, dates, Decimals and plain words (no
    quoting is needed for any of them); None becomes NULL."""
    return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"
