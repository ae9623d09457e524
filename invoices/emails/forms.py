from django import forms


class InvoiceEmailForm(forms.Form):
    to = forms.CharField(
        label="To",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One address per line (the billing contact by default).",
    )
    cc = forms.CharField(
        label="Copy to",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One address per line (the customer's other contacts by default).",
    )
    subject = forms.CharField(max_length=250)
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 10}))
