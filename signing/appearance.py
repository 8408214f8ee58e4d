"""Where a signature goes and what it looks like.

`where` (CONTRACT §5): `page` (1-based), `position` "rect: x1, y1, x2, y2"
with the origin at the bottom-left of the page and each number in mm, in or pt
(pt when no unit is given, 72 per inch), `text[]` blocks whose `format` lines
are drawn with `nominativofirma` and `datafirma` substituted, and a background
image (the handwritten signature, or an image the caller fetched). Only `page`
means an invisible signature.

The appearance is a pyHanko stamp style of our own: pyHanko's text box aligns
the box but not the lines inside it, and draws with Courier, which is not
embedded and has no glyphs beyond WinAnsi. Here every line is shaped with an
embedded DejaVu Sans, aligned on its own, and the whole text is shrunk until
it fits the box (text never wraps: lines are the caller's).
"""

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from signing.documents import Box, PdfInfo
from signing.errors import PlacementError

FONT_PATH = Path(__file__).parent / "fonts" / "DejaVuSans-Latin.ttf"

POINTS_PER_UNIT = {"pt": 1.0, "mm": 72 / 25.4, "in": 72.0}
ALIGNMENTS = {"left": "left", "middle": "center", "center": "center", "right": "right"}
DEFAULT_FONT_SIZE = 10.0
DEFAULT_LINES = ("Firmato digitalmente da nominativofirma", "Data: datafirma")
NAME_PLACEHOLDER = "nominativofirma"
DATE_PLACEHOLDER = "datafirma"
DATE_FORMAT = "%d/%m/%Y %H:%M"
MAX_IMAGE_PIXELS = 25_000_000
# Pixels per point kept from a background image: 4 is 288 dpi, sharp in print.
IMAGE_PIXELS_PER_POINT = 4
_SLACK = 0.01  # pt: mm and in conversions must not fail a rect drawn to the page edge

try:
    DISPLAY_TZ = ZoneInfo("Europe/Rome")
except ZoneInfoNotFoundError:  # pragma: no cover - a system without tzdata
    DISPLAY_TZ = ZoneInfo("UTC")

# fontTools narrates every subset it makes (thirty INFO lines per visible
# signature); its warnings still get through.
logging.getLogger("fontTools").setLevel(logging.WARNING)

_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([A-Za-z]*)\s*$")
_RECT = re.compile(r"^\s*rect\s*:(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class TextBlock:
    lines: tuple[str, ...]
    font_size: float = DEFAULT_FONT_SIZE
    align: str = "left"


@dataclass(frozen=True)
class Appearance:
    """A parsed, checked `where`: 0-based page, box in the page's user space."""

    page: int
    box: Box | None = None
    blocks: tuple[TextBlock, ...] = ()
    image: bytes | None = field(default=None, repr=False)

    @property
    def visible(self) -> bool:
        return self.box is not None

    def stamp_style(self, *, signer_name: str, signed_at: datetime) -> "SignatureStampStyle":
        """The pyHanko stamp style drawing this appearance for one signature."""
        blocks = self.blocks
        if not blocks and self.image is None:
            blocks = (TextBlock(lines=DEFAULT_LINES, align="center"),)
        date = format_date(signed_at)
        lines = tuple(
            StampLine(
                text=line.replace(NAME_PLACEHOLDER, signer_name).replace(DATE_PLACEHOLDER, date),
                font_size=block.font_size,
                align=block.align,
            )
            for block in blocks
            for line in block.lines
        )
        background = None
        if self.image is not None:
            x1, y1, x2, y2 = self.box
            background = _background_image(self.image, (x2 - x1, y2 - y1))
        x1, y1, x2, y2 = self.box
        return SignatureStampStyle(
            lines=lines, background=background, font=embedded_font(), size=(x2 - x1, y2 - y1)
        )


def format_date(when: datetime, tz: ZoneInfo = DISPLAY_TZ) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(tz)
    return when.strftime(DATE_FORMAT)


# --- parsing `where` -------------------------------------------------------------


def parse_rect(position: str) -> Box:
    """ "rect: x1, y1, x2, y2" -> (x1, y1, x2, y2) in pt, normalised so x1 < x2, y1 < y2."""
    if not isinstance(position, str):
        raise PlacementError('must be a string like "rect: x1, y1, x2, y2"')
    match = _RECT.match(position)
    if not match:
        raise PlacementError(f'"{position}" does not start with "rect:"')
    parts = match.group(1).split(",")
    if len(parts) != 4:
        raise PlacementError(
            f'"{position}" has {len(parts)} numbers, a rectangle needs 4: x1, y1, x2, y2'
        )
    values = []
    for part in parts:
        number = _NUMBER.match(part)
        if not number:
            raise PlacementError(f'"{part.strip()}" in "{position}" is not a number')
        unit = number.group(2).lower() or "pt"
        if unit not in POINTS_PER_UNIT:
            raise PlacementError(
                f'unknown unit "{number.group(2)}" in "{position}": use mm, in or pt'
            )
        values.append(float(number.group(1)) * POINTS_PER_UNIT[unit])
    x1, y1, x2, y2 = values
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise PlacementError(f'"{position}" has zero width or height')
    return (x1, y1, x2, y2)


def _page_index(page: object, document: PdfInfo) -> int:
    if isinstance(page, bool) or not isinstance(page, int | str):
        raise PlacementError("must be a page number starting at 1", "page")
    try:
        number = int(page)
    except ValueError:
        raise PlacementError(f'"{page}" is not a page number', "page") from None
    if number < 1:
        raise PlacementError(f"page {number} does not exist: pages start at 1", "page")
    count = len(document.boxes)
    if number > count:
        raise PlacementError(
            f"page {number} is beyond the document, which has {count}"
            f" page{'s' if count != 1 else ''}",
            "page",
        )
    return number - 1


def _text_blocks(text: object) -> tuple[TextBlock, ...]:
    if text is None:
        return ()
    if isinstance(text, Mapping):
        text = [text]
    if not isinstance(text, Sequence) or isinstance(text, str):
        raise PlacementError("must be a list of text blocks", "text")
    blocks = []
    for index, block in enumerate(text):
        where = f"text.{index}"
        if not isinstance(block, Mapping):
            raise PlacementError("must be an object with format lines", where)
        lines = block.get("format", [])
        if isinstance(lines, str):
            lines = lines.split("\n")
        if not isinstance(lines, Sequence) or not all(isinstance(x, str) for x in lines):
            raise PlacementError("must be a list of strings", f"{where}.format")
        font = block.get("font") or {}
        if not isinstance(font, Mapping):
            raise PlacementError("must be an object", f"{where}.font")
        size = font.get("size", DEFAULT_FONT_SIZE)
        if isinstance(size, bool) or not isinstance(size, int | float) or not 0 < size <= 500:
            raise PlacementError("must be a number of points above 0", f"{where}.font.size")
        align = block.get("text_align", "left")
        if align not in ALIGNMENTS:
            raise PlacementError(
                f'"{align}" is not one of left, middle, center, right', f"{where}.text_align"
            )
        blocks.append(
            TextBlock(
                lines=tuple(line.replace("\r", "") for line in lines),
                font_size=float(size),
                align=ALIGNMENTS[align],
            )
        )
    return tuple(blocks)


def parse_where(
    where: Mapping | None, *, document: PdfInfo, image: bytes | None = None
) -> Appearance:
    """Check a `where` against the document's pages. `image` is the background
    (handwritten signature or fetched `image_uri`); it shows only in a visible box.
    Raises PlacementError naming the field at fault."""
    where = where or {}
    page = _page_index(where.get("page", 1), document)
    position = where.get("position")
    if position in (None, ""):
        return Appearance(page=page)
    x1, y1, x2, y2 = parse_rect(position)
    bx1, by1, bx2, by2 = document.boxes[page]
    width, height = bx2 - bx1, by2 - by1
    if x1 < -_SLACK or y1 < -_SLACK or x2 > width + _SLACK or y2 > height + _SLACK:
        raise PlacementError(
            f'"{position}" ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f} pt) is off page {page + 1},'
            f" which is {width:.1f} x {height:.1f} pt"
        )
    # The rect is relative to the page's bottom-left corner, which need not be (0, 0).
    box = (
        bx1 + max(x1, 0.0),
        by1 + max(y1, 0.0),
        bx1 + min(x2, width),
        by1 + min(y2, height),
    )
    if image is not None:
        _check_image(image)
    return Appearance(page=page, box=box, blocks=_text_blocks(where.get("text")), image=image)


# --- drawing ---------------------------------------------------------------------


class EmbeddedFont(FontEngineFactory):
    """pyHanko's GlyphAccumulator over our vendored font, made cheap to repeat.

    The accumulator parses and subsets the font with fontTools for every stamp;
    decoding the OpenType layout tables was most of that work (≈100 ms), yet
    fontTools only needs the outlines and metrics. So fontTools gets a copy
    without layout tables, while HarfBuzz, which positions the glyphs (kerning),
    shapes with one shared font over the complete file. Glyph ids are the same
    in both. The file has 1000 units per em, as the accumulator's widths assume.
    """

    LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "kern")

    def __init__(self, path: Path = FONT_PATH):
        import uharfbuzz as hb
        from fontTools.ttLib import TTFont

        full = path.read_bytes()
        font = TTFont(BytesIO(full))
        for tag in self.LAYOUT_TABLES:
            if tag in font:
                del font[tag]
        lite = BytesIO()
        font.save(lite)
        self._outlines = lite.getvalue()
        units = font["head"].unitsPerEm
        self.ascent = font["hhea"].ascent / units
        self.descent = -font["hhea"].descent / units
        self._hb_font = hb.Font(hb.Face(full))

    def create_font_engine(self, writer, obj_stream=None):
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulator

        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        engine = GlyphAccumulator(
            writer=writer, font_handle=BytesIO(self._outlines), font_size=1, obj_stream=obj_stream
        )
        engine.hb_font = self._hb_font
        return engine


@cache
def embedded_font() -> EmbeddedFont:
    return EmbeddedFont()


@dataclass(frozen=True)
class StampLine:
    text: str
    font_size: float
    align: str


class _ExactBox:
    """The stamp's size in points, fractions kept: pyHanko's BoxConstraints
    truncates to whole points, and poppler then draws a box up to 1 pt smaller
    than the widget's rectangle."""

    width_defined = height_defined = True

    def __init__(self, width: float, height: float):
        self.width, self.height = width, height


@dataclass(frozen=True)
class SignatureStampStyle(BaseStampStyle):
    lines: tuple[StampLine, ...] = ()
    font: EmbeddedFont | None = None
    size: tuple[float, float] | None = None
    padding: float = 2.0
    text_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    border_width: int = 0
    background_opacity: float = 1.0
    background_layout: layout.SimpleBoxLayoutRule = field(
        default_factory=lambda: layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            # Not 0: scaling to the exact box can overshoot it by a rounding
            # error, which pyHanko's layout reports as a warning every time.
            # (Not 1e-6 either: it is written with %g, and PDF has no exponents.)
            margins=layout.Margins.uniform(0.001),
            inner_content_scaling=layout.InnerScaling.STRETCH_TO_FIT,
        )
    )

    def create_stamp(self, writer, box, text_params) -> "SignatureStamp":
        if self.size is not None:
            box = _ExactBox(*self.size)
        return SignatureStamp(writer=writer, style=self, box=box)


class SignatureStamp(BaseStamp):
    style: SignatureStampStyle

    def _render_inner_content(self):
        style = self.style
        lines = [line for line in style.lines if line.text.strip()]
        if not lines:
            return []
        font = style.font or embedded_font()
        engine = font.create_font_engine(self.writer)
        self.set_resource(
            category=ResourceType.FONT, name=pdf_name("/F1"), value=engine.as_resource()
        )
        shaped = [engine.shape(line.text) for line in lines]
        line_height = font.ascent + font.descent

        box = self.box
        pad = min(style.padding, box.width / 10, box.height / 10)
        avail_w, avail_h = box.width - 2 * pad, box.height - 2 * pad
        natural_w = max(s.x_advance * line.font_size for s, line in zip(shaped, lines, strict=True))
        natural_h = sum(line.font_size * line_height for line in lines)
        scale = min(1.0, avail_w / natural_w if natural_w else 1.0, avail_h / natural_h)

        r, g, b = style.text_color
        ops = [b"q %g %g %g rg BT" % (r, g, b)]
        # The block is centred vertically; each line is placed by an absolute Tm,
        # so nothing depends on where the previous line left the text cursor.
        top = pad + (avail_h + natural_h * scale) / 2
        for result, line in zip(shaped, lines, strict=True):
            size = line.font_size * scale
            width = result.x_advance * size
            if line.align == "center":
                x = (box.width - width) / 2
            elif line.align == "right":
                x = box.width - pad - width
            else:
                x = pad
            baseline = top - font.ascent * size
            ops.append(b"/F1 %g Tf 1 0 0 1 %g %g Tm" % (size, x, baseline))
            ops.append(result.graphics_ops)
            top -= line_height * size
        ops.append(b"ET Q")
        return [b" ".join(ops)]


def _open_image(data: bytes):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PlacementError("is not a PNG or JPEG image", "image") from exc
    if image.format not in ("PNG", "JPEG"):
        raise PlacementError(f"is a {image.format} image, not PNG or JPEG", "image")
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise PlacementError(
            f"is {image.width} x {image.height} pixels, more than we draw", "image"
        )
    return image


def _check_image(data: bytes) -> None:
    image = _open_image(data)
    try:
        image.load()
    except (OSError, ValueError) as exc:
        raise PlacementError("is a damaged image", "image") from exc


def _background_image(data: bytes, box_size: tuple[float, float]):
    from PIL import Image
    from pyhanko.pdf_utils.images import PdfImage

    image = _open_image(data)
    image.load()
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        has_alpha = "transparency" in image.info or image.mode.endswith("A")
        image = image.convert("RGBA" if has_alpha else "RGB")
    limit = (
        max(1, int(box_size[0] * IMAGE_PIXELS_PER_POINT)),
        max(1, int(box_size[1] * IMAGE_PIXELS_PER_POINT)),
    )
    if image.width > limit[0] or image.height > limit[1]:
        image.thumbnail(limit, Image.Resampling.LANCZOS)
    return PdfImage(image)
