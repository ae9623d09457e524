"""Text a request may carry: no NUL characters, no unpaired UTF-16 surrogates.

Neither can be stored (PostgreSQL refuses NUL in text; UTF-8 cannot encode a lone
surrogate) nor echoed back (the JSON renderer cannot encode a surrogate), so both are
refused at the edge with a 400 that names the field and never repeats the value.

JSON bodies are checked by the API's parser (``billing_site.api.parsers``); query
strings and URL-encoded form bodies of every page and endpoint by
:class:`RequestInputMiddleware`. Multipart bodies reach the views' forms and
serializers, whose text fields refuse NUL themselves (Django's and DRF's
``CharField``); Django decodes form data with replacement, so no surrogate arrives.
"""

from __future__ import annotations

import re

from django.http import JsonResponse
from django.shortcuts import render

_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")

NUL_MESSAGE = "Contains a NUL character (U+0000), which text cannot hold; remove it."
SURROGATE_MESSAGE = (
    "Contains an unpaired UTF-16 surrogate (U+D800 to U+DFFF), which is not text; "
    "send valid Unicode."
)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted as text, or None when it can."""
    match = _BAD_CHARACTER.search(value)
    if match is None:
        return None
    return NUL_MESSAGE if match.group() == "\x00" else SURROGATE_MESSAGE


def safe_text(value: str) -> str:
    """``value`` with NUL and lone surrogates written as escapes, safe to show or render."""
    return _BAD_CHARACTER.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def query_dict_problems(data) -> dict[str, list[str]]:
    """{parameter: [reason]} for every key or value of a QueryDict that is not text."""
    problems: dict[str, list[str]] = {}
    for key, values in data.lists():
        reason = text_problem(key) or next(filter(None, map(text_problem, values)), None)
        if reason:
            problems[safe_text(key)] = [reason]
    return problems


def _is_api_view(view_func) -> bool:
    from rest_framework.views import APIView

    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class RequestInputMiddleware:
    """Refuses NUL (and unpaired surrogates) in query strings and URL-encoded forms.

    Search boxes, filters and ``request.GET.get(...)`` in views would otherwise carry
    a NUL to the database (PostgreSQL raises, a 500). Checked after URL resolution so
    the answer matches the view: JSON ``{field: [reason]}`` for the API, a page for
    the browser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        problems = query_dict_problems(request.GET)
        # Multipart bodies are left to the view: reading them here would parse uploads
        # before the view can set its own upload limits.
        if request.content_type == "application/x-www-form-urlencoded":
            problems.update(query_dict_problems(request.POST))
        if not problems:
            return None
        if _is_api_view(view_func):
            return JsonResponse(problems, status=400)
        return render(request, "bad_input.html", {"problems": problems}, status=400)
