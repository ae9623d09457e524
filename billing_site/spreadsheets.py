"""Text cells of export files never run as spreadsheet formulas.

Every CSV, IIF and XLSX file we write can be opened in Excel or LibreOffice, which run a
cell starting with ``=``, ``+``, ``-`` or ``@`` (and, after a leading tab or carriage
return, whatever follows) as a formula: ``=HYPERLINK("http://x")`` in a customer name
would become a live link. OWASP "CSV Injection" guidance is followed:

- in text files (CSV, IIF) such a cell gets a leading apostrophe, which spreadsheets read
  as "this is text" and hide;
- in XLSX the cell is written as a string (never a formula) with the quote-prefix style,
  so its value stays exactly what the user typed and editing it keeps it text.

Only text is neutralised. Numbers stay numbers: a negative amount (``-12.50`` in a CSV
column of amounts, a ``Decimal`` in XLSX) is written by the caller without passing
through here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet would read ``text`` as a formula."""
    return text.startswith(FORMULA_STARTS)


def safe_text(value: object) -> str:
    """A text cell for CSV or IIF: a leading apostrophe when it would start a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if is_formula_like(text) else text


def xlsx_cell(sheet, value: object):
    """A write-only openpyxl cell for ``value``.

    Numbers, dates and empty cells are written as they are (so they sort and sum); any
    other value is written as a string cell, never a formula, whatever it starts with.
    """
    from openpyxl.cell import WriteOnlyCell

    if value is None or isinstance(value, int | float | Decimal | dt.date | dt.time):
        return WriteOnlyCell(sheet, value=value)
    text = str(value)
    cell = WriteOnlyCell(sheet, value=text)
    # openpyxl types any text starting with "=" as a formula; force the string type.
    cell.data_type = "s"
    if is_formula_like(text):
        cell.quotePrefix = True
    return cell
