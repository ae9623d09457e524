"""The shared field template (templates/_field.html): every control has a label, and the
help and errors a screen reader is pointed at (aria-describedby) exist under those ids."""

from __future__ import annotations

import re

from django import forms
from django.template.loader import render_to_string


class _Form(forms.Form):
    amount = forms.DecimalField(help_text="Before tax.")
    note = forms.CharField(required=False)
    final = forms.BooleanField(required=False, help_text="Cannot be undone.")
    scope = forms.ChoiceField(
        choices=[("whole", "Whole"), ("lines", "Lines")], widget=forms.RadioSelect
    )


def _render(form, name):
    return render_to_string("_field.html", {"field": form[name]})


def _ids(html):
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_a_field_with_help_and_an_error_points_at_both():
    form = _Form(data={"amount": "abc", "scope": "whole"})
    assert not form.is_valid()
    html = _render(form, "amount")
    assert '<label for="id_amount">Amount <span aria-hidden="true">*</span></label>' in html
    described = re.search(r'<input[^>]*aria-describedby="([^"]+)"', html).group(1).split()
    assert described == ["id_amount_helptext", "id_amount_error"]
    assert set(described) <= _ids(html)
    assert 'aria-invalid="true"' in html
    assert "Enter a number." in html


def test_a_checkbox_sits_in_its_label_and_its_help_is_found():
    html = _render(_Form(), "final")
    assert re.search(
        r'<label for="id_final"><input type="checkbox" name="final"[^>]*> Final</label>', html
    )
    assert 'aria-describedby="id_final_helptext"' in html and 'id="id_final_helptext"' in html


def test_a_radio_group_is_a_fieldset_named_by_its_legend():
    html = _render(_Form(), "scope")
    assert html.strip().startswith('<fieldset class="field">')
    assert '<legend>Scope <span aria-hidden="true">*</span></legend>' in html
    assert re.search(
        r'<label for="id_scope_0"><input type="radio" name="scope" value="whole"', html
    )
    assert '<label for=""' not in html  # no label pointing at nothing


def test_a_field_without_help_has_no_dangling_reference():
    html = _render(_Form(), "note")
    assert "aria-describedby" not in html and "_helptext" not in html
