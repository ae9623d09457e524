"""The invoice batch engine (DESIGN.md, value chain steps 3–4).

``selectors``: what a batch would bill as of its date, per contract (selectable, locked,
partial), with the batch's exclusions applied, the drafts a run would create and the
batch details — from the contracts' billing state, priced by ``contracts.pricing``.
``services``: save, select, run (drafts, every item claimed once), delete a draft,
consolidate, generate (finalised by ``invoices.services.invoices_finalize``). ``models``
(batches, exclusions, links to invoices), ``views``/``forms``/``urls`` (the batch page)
and ``api`` (the REST endpoints) follow the app's usual shape.
"""
