"""Page images of a document for the signer's page.

A page of a revision is rendered once with pypdfium2 and kept on disk under
MEDIA_ROOT/previews/<revision sha256>/<page>.png: the sha256 names the bytes,
so a cached image never goes stale, and two documents with the same bytes share
their images. The file is written to a temporary name and renamed, so a reader
never sees half a PNG when two requests render the same page at once.
"""

import os
import tempfile
import threading
from io import BytesIO
from pathlib import Path

from django.conf import settings

from practices.models import Revision

# 1.5 x 72 dpi: an A4 page is about 890 px wide, sharp on a phone and light to send.
SCALE = 1.5
# pdfium is not thread-safe: one render at a time per process.
_PDFIUM_LOCK = threading.Lock()


class NoPreview(Exception):
    """The revision is not a PDF, or has no such page."""


def _directory(revision: Revision) -> Path:
    return Path(settings.MEDIA_ROOT) / "previews" / revision.sha256


def preview_path(*, revision: Revision, page: int) -> Path:
    return _directory(revision) / f"{page}.png"


def _read_revision(revision: Revision) -> bytes:
    with revision.file.open("rb") as handle:
        return handle.read()


def page_sizes(*, revision: Revision) -> list[tuple[float, float]]:
    """(width, height) in pt of each page, as pdfium sees them (CropBox, else MediaBox)."""
    if not revision.content_type.startswith("application/pdf"):
        return []
    import pypdfium2

    data = _read_revision(revision)
    with _PDFIUM_LOCK:
        pdf = pypdfium2.PdfDocument(data)
        try:
            return [pdf[i].get_size() for i in range(len(pdf))]
        finally:
            pdf.close()


def page_png(*, revision: Revision, page: int) -> Path:
    """The PNG of `page` (1-based) of `revision`, rendered on the first call."""
    path = preview_path(revision=revision, page=page)
    if path.exists():
        return path
    if not revision.content_type.startswith("application/pdf") or page < 1:
        raise NoPreview(page)
    import pypdfium2

    data = _read_revision(revision)
    with _PDFIUM_LOCK:
        pdf = pypdfium2.PdfDocument(data)
        try:
            if page > len(pdf):
                raise NoPreview(page)
            bitmap = pdf[page - 1].render(scale=SCALE)
            image = bitmap.to_pil()
        finally:
            pdf.close()
    buffer = BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(buffer.getvalue())
    os.replace(temporary, path)
    return path
