"""Renderers that let ``?format=csv|xlsx|pdf`` through DRF's content negotiation.

The export view builds the file itself (``portal.exports``); these only declare the
formats, so DRF accepts the ``format`` query parameter instead of answering 404.
"""

from rest_framework.renderers import BaseRenderer

from portal.exports import FORMATS


class _FileRenderer(BaseRenderer):
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class CSVRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXRenderer(_FileRenderer):
    media_type = FORMATS["xlsx"]
    format = "xlsx"


class PDFRenderer(_FileRenderer):
    media_type = FORMATS["pdf"]
    format = "pdf"
