"""The Content-Security-Policy middleware: django-csp's, with one allowance for PDFs.

The policy itself is in settings (``CONTENT_SECURITY_POLICY``); views that need more
widen it with django-csp's decorators (the API docs pages, ``billing_site/api/urls.py``).
"""

from __future__ import annotations

from csp.constants import SELF
from csp.middleware import CSPMiddleware, PolicyParts


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """Sends the site's CSP on every response.

    A PDF opened in the browser (invoice "Open", portal exports) is shown by the browser's
    own viewer, which Chrome embeds as a plugin: ``object-src 'none'`` on the PDF response
    would leave it blank, so PDFs get ``object-src 'self'``. Nothing else changes for them.
    """

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if response.get("Content-Type", "").startswith("application/pdf"):
            parts.replace = {**(parts.replace or {}), "object-src": [SELF]}
        return parts
