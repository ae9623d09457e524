"""The API's JSON parser: bounded in size and depth, text checked before any field sees it.

DRF's parser lets ``[[[[…]]]]`` a hundred thousand deep raise ``RecursionError`` (a
500), reads a body of any size, and hands lone surrogates and NUL characters to the
fields (a ``ChoiceField`` then echoes the value in its message and the renderer cannot
encode it, another 500). Here each of these is a 400 (413 for size) before a
serializer runs.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.utils import json

from billing_site.request_input import safe_text, text_problem

# Our documents are a few levels deep (an invoice, its lines, their facts); 32 leaves
# room and keeps every later recursive walk far from Python's recursion limit.
MAX_DEPTH = 32
DEFAULT_MAX_BYTES = 1024 * 1024


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def max_body_bytes() -> int:
    return getattr(settings, "JSON_BODY_MAX_BYTES", DEFAULT_MAX_BYTES)


def check_document(data, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise a 400 if ``data`` nests deeper than ``max_depth`` or holds non-text strings.

    Iterative, so no document can exhaust the stack. A bad string is reported under its
    path (``{"lines": {"0": {"description": [reason]}}}``), never repeated.
    """
    stack = [(data, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise exceptions.ParseError(
                    f"JSON nested deeper than {max_depth} levels; send a flatter document."
                )
            for key, item in value.items():
                reason = text_problem(key)
                if reason:
                    raise exceptions.ValidationError(_at((*path, safe_text(key)), reason))
                stack.append((item, depth + 1, (*path, key)))
        elif isinstance(value, list):
            if depth > max_depth:
                raise exceptions.ParseError(
                    f"JSON nested deeper than {max_depth} levels; send a flatter document."
                )
            stack.extend((item, depth + 1, (*path, str(i))) for i, item in enumerate(value))
        elif isinstance(value, str):
            reason = text_problem(value)
            if reason:
                raise exceptions.ValidationError(_at(path, reason))


def _at(path: tuple[str, ...], reason: str):
    """The error shaped like a serializer's: nested by field name, list items by index."""
    detail = [reason]
    for name in reversed(path):
        detail = {name: detail}
    return detail if path else {"non_field_errors": detail}


class JSONParser(DRFJSONParser):
    """DRF's JSON parser with a size limit, a depth limit and a text check."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"The JSON body is larger than {limit} bytes.")
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - the body is not {encoding}.") from exc
        parse_constant = json.strict_constant if self.strict else None
        try:
            data = json.loads(text, parse_constant=parse_constant)
        except RecursionError:
            raise exceptions.ParseError(
                f"JSON nested deeper than {MAX_DEPTH} levels; send a flatter document."
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {safe_text(str(exc))}") from exc
        check_document(data)
        return data
