"""The batch benchmark command runs end to end at a small size (its figures are for the
README; this checks the command itself: build, preview, floors, run + generate, PDFs)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection

from invoices.models import Invoice, InvoiceStatus


@pytest.mark.django_db(transaction=True)
def test_bench_batch_small_run_matches_its_floor_and_generates():
    out = io.StringIO()
    call_command(
        "bench_batch",
        customers=6,
        contracts=12,
        time_entries=300,
        sessions=60,
        pdf_samples=2,
        stdout=out,
    )
    text = out.getvalue()
    preview = re.search(r"preview, all 12 contracts: [\d.]+ s .*median of 5.*, (\d+) queries", text)
    assert preview
    if connection.vendor == "postgresql":
        assert preview.group(1) == "14"  # the same as at full size (README)
        # The hand-written statement prices the same items to the same cent.
        assert "figures equal: yes" in text
        assert "MISMATCH" not in text
    else:
        assert "same figures (one statement pricing the due items): skipped" in text
    invoices = re.search(r"(\d+) drafts -> (\d+) final invoices", text)
    assert invoices and int(invoices.group(1)) == int(invoices.group(2)) > 0
    assert Invoice.all_tenants.filter(status=InvoiceStatus.FINAL).count() == int(invoices.group(2))
    assert re.search(r"PDF render: median \d+ ms over 2 one-page invoices", text)
