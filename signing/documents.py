"""First look at an incoming document: is it a PDF we can sign, and what are its pages?

Runs before anything is stored, so a DST can be cancelled with the contract's
reason (PROTECTED_DOCUMENT, INVALID_DOCUMENT) instead of failing at signing time.
"""

from dataclasses import dataclass
from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.errors import (
    DEFAULT_MAX_BYTES,
    DocumentTooLarge,
    EncryptedDocument,
    UnreadableDocument,
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PdfInfo:
    boxes: list[Box]
    """Each page's visible box (CropBox, else MediaBox) as (x1, y1, x2, y2) in pt."""

    @property
    def pages(self) -> list[tuple[float, float]]:
        """(width, height) of each page in pt."""
        return [(x2 - x1, y2 - y1) for x1, y1, x2, y2 in self.boxes]


def check_size(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    if len(data) > max_bytes:
        raise DocumentTooLarge(len(data), max_bytes)


def open_pdf(data: bytes) -> PdfFileReader:
    """A reader over `data`; EncryptedDocument or UnreadableDocument otherwise."""
    if not bytes(data[:1024]).lstrip().startswith(b"%PDF-"):
        raise UnreadableDocument("not a PDF file")
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        encrypted = reader.encrypted
    except PdfError as exc:
        raise UnreadableDocument(f"the PDF cannot be read: {exc}") from exc
    except Exception as exc:  # a damaged file can trip any parser invariant
        raise UnreadableDocument(f"the PDF cannot be read: {exc!r}") from exc
    if encrypted:
        raise EncryptedDocument("the PDF is encrypted")
    return reader


def check_pdf(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PdfInfo:
    check_size(data, max_bytes)
    reader = open_pdf(data)
    try:
        boxes = page_boxes(reader)
    except EncryptedDocument:
        raise
    except Exception as exc:
        raise UnreadableDocument(f"the PDF's pages cannot be read: {exc}") from exc
    if not boxes:
        raise UnreadableDocument("the PDF has no pages")
    return PdfInfo(boxes=boxes)


def _box(node: generic.DictionaryObject, key: str, inherited: Box | None) -> Box | None:
    value = node.get(key)
    if value is None:
        return inherited
    x1, y1, x2, y2 = (float(v) for v in value)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def page_boxes(reader: PdfFileReader) -> list[Box]:
    """The visible box of every page, walking the page tree once (MediaBox and
    CropBox are inheritable, and a CropBox is clipped to its MediaBox)."""
    boxes: list[Box] = []
    seen: set = set()
    # (node reference, inherited MediaBox, inherited CropBox); a stack keeps page order.
    stack: list[tuple[generic.PdfObject, Box | None, Box | None]] = [
        (reader.root.raw_get("/Pages"), None, None)
    ]
    while stack:
        ref, media, crop = stack.pop()
        if isinstance(ref, generic.IndirectObject):
            if ref.reference in seen:
                raise UnreadableDocument("the page tree has a cycle")
            seen.add(ref.reference)
        node = ref.get_object()
        media = _box(node, "/MediaBox", media)
        crop = _box(node, "/CropBox", crop)
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            kids = node.raw_get("/Kids").get_object()
            stack.extend((kid, media, crop) for kid in reversed(kids))
            continue
        if media is None:
            media = (0.0, 0.0, 612.0, 792.0)  # the default of PDF 1.0-era writers (Letter)
        if crop is None:
            boxes.append(media)
        else:
            boxes.append(
                (
                    max(crop[0], media[0]),
                    max(crop[1], media[1]),
                    min(crop[2], media[2]),
                    min(crop[3], media[3]),
                )
            )
    return boxes
