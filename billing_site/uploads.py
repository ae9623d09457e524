"""Upload size limits per kind of file, and which images a logo may be.

``settings.UPLOAD_LIMITS`` gives the largest file of each kind in bytes (README "Upload
limits"). A limit is enforced twice:

- before the body is read: :class:`UploadLimitMiddleware` compares a multipart
  request's ``Content-Length`` with the limit of the view's ``upload_kind`` (plus
  ``FORM_OVERHEAD`` for the form's other fields) and answers 413 without reading it,
  so an oversized upload is never spooled to memory or disk. It runs before the CSRF
  middleware, which would otherwise parse the body first;
- on the file itself, before it is read or stored: :class:`LimitedFileField` in API
  serializers answers 413 naming the field, and :func:`check_upload_size` in forms and
  services raises a ``ValidationError`` on the field (the form shows it on pages).

Logos are PNG, JPEG, GIF or WebP images, checked by Pillow. SVG is refused: it can carry
scripts and is served from our origin.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status

MB = 1024 * 1024
# Room for the multipart framing and the form's other fields next to the file.
FORM_OVERHEAD = 256 * 1024
LOGO_MAX_PIXELS = 4096 * 4096
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True)
class UploadKind:
    field: str  # the form and API field that carries the file
    label: str  # plural, as in "session logs can be at most 5 MB"


UPLOAD_KINDS = {
    "session_log": UploadKind(field="file", label="session logs"),
    "attachment": UploadKind(field="file", label="attachments"),
    "logo": UploadKind(field="logo", label="logos"),
}


def upload_limit(kind: str) -> int:
    """The largest file of ``kind`` in bytes (``settings.UPLOAD_LIMITS``)."""
    return settings.UPLOAD_LIMITS[kind]


def size_label(size: int) -> str:
    """A size as people read it: 5 MB, 1.5 MB, 512 KB, 300 bytes."""
    for unit, factor in (("MB", MB), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def too_large_message(kind: str, size: int | None = None) -> str:
    spec, limit = UPLOAD_KINDS[kind], upload_limit(kind)
    largest = size_label(limit)
    if size is None:
        what = "The upload is too large"
    elif size_label(size) == largest:
        # Just over: "4 KB; at most 4 KB" would read as a contradiction.
        what, largest = f"The file is {size:,} bytes", f"{limit:,} bytes"
    else:
        what = f"The file is {size_label(size)}"
    return f"{what}; {spec.label} can be at most {largest}. Nothing was stored."


def check_upload_size(file, *, kind: str) -> None:
    """Raise a ValidationError on the kind's field when ``file`` is over its limit.

    Reads only the size Django already knows (``file.size``), never the content.
    """
    size = getattr(file, "size", None)
    if size is None and isinstance(file, bytes | str):
        size = len(file)
    if size is not None and size > upload_limit(kind):
        raise ValidationError({UPLOAD_KINDS[kind].field: too_large_message(kind, size)})


def check_logo(file) -> None:
    """Raise a ValidationError on ``logo`` unless ``file`` is a PNG, JPEG, GIF or WebP
    image within the logo limit. Called before the file is stored."""
    check_upload_size(file, kind="logo")
    name = (getattr(file, "name", "") or "").lower()
    if name.endswith((".svg", ".svgz")):
        raise ValidationError(
            {"logo": "SVG logos are not accepted (they can carry scripts); upload a PNG or JPEG."}
        )
    from PIL import Image, UnidentifiedImageError

    try:
        file.seek(0)
        with Image.open(file) as image:
            image_format, pixels = image.format, image.width * image.height
            image.verify()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ) as exc:
        raise ValidationError(
            {"logo": "The logo is not a readable image; upload a PNG, JPEG, GIF or WebP file."}
        ) from exc
    finally:
        file.seek(0)
    if image_format not in LOGO_FORMATS:
        raise ValidationError(
            {"logo": f"{image_format} images are not accepted; upload a PNG, JPEG, GIF or WebP."}
        )
    # A small file can still decode to a huge bitmap in every PDF it is printed on.
    if pixels > LOGO_MAX_PIXELS:
        raise ValidationError(
            {"logo": f"The logo has {pixels:,} pixels; at most {LOGO_MAX_PIXELS:,} are accepted."}
        )


class UploadTooLarge(exceptions.APIException):
    """413 on the API, the body naming the field: ``{"file": ["The file is …"]}``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"

    def __init__(self, kind: str, size: int | None = None):
        super().__init__({UPLOAD_KINDS[kind].field: [too_large_message(kind, size)]})


# The 413 as the OpenAPI schema documents it on the upload endpoints.
UPLOAD_TOO_LARGE_RESPONSE = OpenApiResponse(
    inline_serializer(
        "UploadTooLargeError", {"file": serializers.ListField(child=serializers.CharField())}
    ),
    description="The file is over its upload limit (settings.UPLOAD_LIMITS); nothing was stored.",
)


class LimitedFileField(serializers.FileField):
    """A file field refusing a file over its kind's limit with a 413."""

    def __init__(self, *, kind: str, **kwargs):
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        file = super().to_internal_value(data)
        if file.size > upload_limit(self.kind):
            raise UploadTooLarge(self.kind, file.size)
        return file


def upload_kind_of(view_func) -> str | None:
    """The ``upload_kind`` a view or viewset declares, if any."""
    view_class = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
    return getattr(view_class, "upload_kind", None)


def _is_api_view(view_func) -> bool:
    from rest_framework.views import APIView

    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class UploadLimitMiddleware:
    """Refuses a multipart request larger than its view accepts, before reading it.

    A view taking uploads names its ``upload_kind``; any other view takes no more than
    Django's limit for form fields (``DATA_UPLOAD_MAX_MEMORY_SIZE``). The answer is a
    413: JSON naming the field on the API, a page saying what the limit is otherwise.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.content_type != "multipart/form-data":
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body without a valid length
        kind = upload_kind_of(view_func)
        limit = upload_limit(kind) if kind else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length <= limit + FORM_OVERHEAD:
            return None
        if kind:
            field, message = UPLOAD_KINDS[kind].field, too_large_message(kind)
        else:
            field = "non_field_errors"
            message = f"The request is larger than {size_label(limit)}; nothing was stored."
        status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        if _is_api_view(view_func):
            return JsonResponse({field: [message]}, status=status_code)
        context = {"message": message}
        return render(request, "upload_too_large.html", context, status=status_code)
