"""Placements from `where`, checked against the page, and what poppler draws."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fontTools.ttLib import TTFont

from signing.appearance import FONT_PATH, parse_rect, parse_where
from signing.documents import check_pdf
from signing.errors import PlacementError
from signing.keys import KeyAlgorithm
from signing.pades import sign_pdf
from signing.pki import Profile, Subject
from tests.signing import pdfs

MM = 72 / 25.4
ROME = ZoneInfo("Europe/Rome")


@pytest.fixture
def signer(ca):
    issued = ca.issue(
        profile=Profile.ADVANCED,
        subject=Subject(common_name="Mario Rossi"),
        owner="signer:1",
        algorithm=KeyAlgorithm.P256,
    )
    return ca.signer(issued, issued.key_reference, owner="signer:1")


@pytest.fixture(scope="module")
def a4():
    data = pdfs.simple_pdf(2)
    return data, check_pdf(data)


def sign_visible(signer, data, where, *, image=None, name="Mario Rossi", when=None):
    appearance = parse_where(where, document=check_pdf(data), image=image)
    return sign_pdf(
        data,
        signer=signer,
        field_name="Firma1",
        appearance=appearance,
        name=name,
        signed_at=when or datetime(2026, 3, 14, 9, 26, tzinfo=ROME),
    )


# --- the rectangle ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("rect: 10, 20, 110, 70", (10, 20, 110, 70)),
        ("rect: 10pt, 20pt, 110pt, 70pt", (10, 20, 110, 70)),
        ("rect:10mm,50mm,110mm,80mm", (10 * MM, 50 * MM, 110 * MM, 80 * MM)),
        ("RECT: 1in, 2in, 3in, 2.5in", (72, 144, 216, 180)),
        ("rect: 10mm, 1in, 200, 5.5 mm", (10 * MM, 5.5 * MM, 200, 72)),
        ("rect: 110, 70, 10, 20", (10, 20, 110, 70)),
        ("  rect :  .5 , 1.25 , 3. , 4  ", (0.5, 1.25, 3, 4)),
    ],
)
def test_rect_units_are_mm_in_or_pt_per_number(position, expected):
    assert parse_rect(position) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ("10, 20, 30, 40", 'does not start with "rect:"'),
        ("rect: 10, 20, 30", "has 3 numbers"),
        ("rect: 10, 20, 30, 40, 50", "has 5 numbers"),
        ("rect: 10, twenty, 30, 40", '"twenty"'),
        ("rect: 10, 20, 30, 4,0", "has 5 numbers"),
        ("rect: 1cm, 2cm, 3cm, 4cm", 'unknown unit "cm"'),
        ("rect: 10px, 20, 30, 40", 'unknown unit "px"'),
        ("rect: 216, 117, 216, 101", "zero width or height"),
        ("rect: 10, 20, 30, 20", "zero width or height"),
    ],
)
def test_a_bad_rectangle_says_what_is_wrong(a4, position, message):
    _, info = a4
    with pytest.raises(PlacementError, match=message) as caught:
        parse_where({"page": 1, "position": position}, document=info)
    assert caught.value.field == "position"


@pytest.mark.parametrize("page", [3, 0, -1, "two", 1.5, True])
def test_a_page_outside_the_document_is_refused(a4, page):
    _, info = a4
    with pytest.raises(PlacementError) as caught:
        parse_where({"page": page, "position": "rect: 10, 10, 50, 50"}, document=info)
    assert caught.value.field == "page"
    if page == 3:
        assert "beyond the document, which has 2 pages" in caught.value.message


@pytest.mark.parametrize(
    "position",
    [
        "rect: -5, 10, 50, 50",
        "rect: 10, 10, 600, 50",  # A4 is 595.28 pt wide
        "rect: 10, 800, 50, 850",
        "rect: 100mm, 280mm, 150mm, 300mm",  # A4 is 297 mm tall
    ],
)
def test_a_rectangle_off_the_page_is_refused(a4, position):
    _, info = a4
    with pytest.raises(PlacementError, match="is off page 1, which is 595.3 x 841.9 pt"):
        parse_where({"page": 1, "position": position}, document=info)


def test_a_rectangle_may_touch_the_page_edges(a4):
    _, info = a4
    appearance = parse_where({"page": 2, "position": "rect: 0, 0, 210mm, 297mm"}, document=info)
    assert appearance.page == 1
    assert appearance.box == pytest.approx((0, 0, 595.28, 841.89), abs=0.01)


def test_only_a_page_means_invisible(a4):
    _, info = a4
    appearance = parse_where({"page": 2}, document=info)
    assert (appearance.page, appearance.visible) == (1, False)


def test_the_rectangle_is_relative_to_the_page_box_origin():
    data = pdfs.offset_pdf(origin=(100, 200))
    appearance = parse_where(
        {"page": 1, "position": "rect: 10, 20, 60, 40"}, document=check_pdf(data)
    )
    assert appearance.box == (110, 220, 160, 240)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ([{"format": ["a"], "text_align": "justify"}], "text.0.text_align"),
        ([{"format": ["a"], "font": {"size": 0}}], "text.0.font.size"),
        ([{"format": ["a"], "font": {"size": "big"}}], "text.0.font.size"),
        ([{"format": [1, 2]}], "text.0.format"),
        (["plain"], "text.0"),
    ],
)
def test_bad_text_names_its_field(a4, text, field):
    _, info = a4
    with pytest.raises(PlacementError) as caught:
        parse_where({"page": 1, "position": "rect: 10, 10, 100, 50", "text": text}, document=info)
    assert caught.value.field == field


def test_an_image_that_is_not_png_or_jpeg_is_refused(a4):
    _, info = a4
    with pytest.raises(PlacementError) as caught:
        parse_where(
            {"page": 1, "position": "rect: 10, 10, 100, 50"}, document=info, image=b"GIF89a..."
        )
    assert caught.value.field == "image"


# --- what is drawn ----------------------------------------------------------------


def is_red(pixel):
    r, g, b = pixel
    return r > 200 and g < 90 and b < 90


def is_ink(pixel):
    return max(pixel) < 128


def test_the_signature_box_is_drawn_where_the_rect_says(signer, a4, tmp_path):
    data, _ = a4
    # A background with the box's own proportions fills it exactly.
    x1, y1, x2, y2 = 20 * MM, 30 * MM, 90 * MM, 55 * MM
    image = pdfs.png_image(700, 250, (230, 20, 20, 255))
    signed = sign_visible(
        signer, data, {"page": 2, "position": "rect: 20mm, 30mm, 90mm, 55mm"}, image=image
    )
    (tmp_path / "signed.pdf").write_bytes(signed)

    page = pdfs.rasterise(tmp_path / "signed.pdf", page=2)
    found = pdfs.pixel_box(page, is_red, page_height=pdfs.A4[1])

    # poppler draws images snapped outwards to whole pixels: 1 pt at 72 dpi.
    assert found is not None
    assert found == pytest.approx((x1, y1, x2, y2), abs=1.0)
    assert pdfs.pixel_box(pdfs.rasterise(tmp_path / "signed.pdf", page=1), is_red) is None


def test_a_jpeg_background_keeps_its_proportions_inside_the_box(signer, a4, tmp_path):
    data, _ = a4
    image = pdfs.jpeg_image(100, 100, (230, 20, 20))  # square, in a 200 x 50 box
    signed = sign_visible(
        signer, data, {"page": 1, "position": "rect: 100, 100, 300, 150"}, image=image
    )
    (tmp_path / "signed.pdf").write_bytes(signed)

    found = pdfs.pixel_box(pdfs.rasterise(tmp_path / "signed.pdf"), is_red, page_height=pdfs.A4[1])

    assert found == pytest.approx((175, 100, 225, 150), abs=1.0)


def test_text_lines_are_substituted_and_accents_survive(signer, a4, tmp_path):
    data, _ = a4
    where = {
        "page": 1,
        "position": "rect: 20mm, 20mm, 120mm, 50mm",
        "text": [
            {
                "format": ["Firmato elettronicamente", "da nominativofirma", "in data datafirma"],
                "font": {"name": "Universal", "size": 10},
                "text_align": "middle",
            },
            {"format": ["àèéìòù ÀÈÉÌÒÙ çñ €"], "text_align": "left"},
        ],
    }
    signed = sign_visible(signer, data, where, name="Niccolò Lucà")
    (tmp_path / "signed.pdf").write_bytes(signed)

    text = pdfs.run("pdftotext", "-f", "1", "-l", "1", str(tmp_path / "signed.pdf"), "-").stdout
    text = text.decode()
    assert "Firmato elettronicamente" in text
    assert "da Niccolò Lucà" in text
    assert "in data 14/03/2026 09:26" in text
    assert "àèéìòù ÀÈÉÌÒÙ çñ €" in text
    fonts = pdfs.run("pdffonts", str(tmp_path / "signed.pdf")).stdout.decode()
    dejavu = [line for line in fonts.splitlines() if "DejaVuSans" in line]
    assert dejavu and all(" yes " in line for line in dejavu)  # embedded (and subset)


def test_the_signing_date_is_shown_in_italian_time(signer, a4, tmp_path):
    data, _ = a4
    where = {"page": 1, "position": "rect: 20, 20, 220, 60", "text": [{"format": ["datafirma"]}]}
    signed = sign_visible(
        signer, data, where, when=datetime.fromisoformat("2026-07-01T22:30:00+00:00")
    )
    (tmp_path / "s.pdf").write_bytes(signed)
    assert "02/07/2026 00:30" in pdfs.run("pdftotext", str(tmp_path / "s.pdf"), "-").stdout.decode()


def test_glyph_widths_match_the_font_so_text_is_not_letter_spaced(signer, a4, tmp_path):
    data, _ = a4
    word = "Mario"  # no kerning pairs: its width is the sum of the advances
    where = {
        "page": 1,
        "position": "rect: 50, 300, 550, 400",
        "text": [{"format": [word], "font": {"size": 40}}],
    }
    (tmp_path / "s.pdf").write_bytes(sign_visible(signer, data, where))
    html = pdfs.run("pdftotext", "-bbox", str(tmp_path / "s.pdf"), "-").stdout.decode()

    (xmin, xmax) = next(
        (float(a), float(b))
        for a, b, w in re.findall(r'xMin="([\d.]+)"[^>]*xMax="([\d.]+)"[^>]*>([^<]+)<', html)
        if w == word
    )
    font = TTFont(FONT_PATH)
    cmap, glyphs = font.getBestCmap(), font.getGlyphSet()
    expected = sum(glyphs[cmap[ord(c)]].width for c in word) / font["head"].unitsPerEm * 40

    assert xmax - xmin == pytest.approx(expected, abs=1.0)


def test_text_too_big_for_the_box_is_shrunk_inside_it(signer, a4, tmp_path):
    data, _ = a4
    # The seed's own example: three lines at 50 pt in a box 9 pt tall.
    where = {
        "page": 1,
        "position": "rect: 140,44,193,53",
        "text": [
            {
                "font": {"name": "Universal", "size": 50},
                "format": ["Firmato elettronicamente", "da nominativofirma", "in data datafirma"],
                "text_align": "middle",
            }
        ],
    }
    (tmp_path / "s.pdf").write_bytes(sign_visible(signer, data, where))
    scale = 4  # 288 dpi, for a box this small
    page = pdfs.rasterise(tmp_path / "s.pdf", dpi=72 * scale)
    # Look 20 pt around the box: all the ink there must be inside it.
    left, bottom, right, top = 120, 24, 213, 73
    area = page.crop(
        (left * scale, page.height - top * scale, right * scale, page.height - bottom * scale)
    )
    x1, y1, x2, y2 = pdfs.pixel_box(area, is_ink)

    assert left + x1 / scale >= 140 - 0.5 and left + x2 / scale <= 193 + 0.5
    assert bottom + y1 / scale >= 44 - 0.5 and bottom + y2 / scale <= 53 + 0.5
    # ... and it is text, not a speck: it spans most of the box's width.
    assert (x2 - x1) / scale > 20


@pytest.mark.parametrize(("align", "side"), [("left", "left"), ("right", "right")])
def test_lines_are_aligned_inside_the_box(signer, a4, tmp_path, align, side):
    data, _ = a4
    where = {
        "page": 1,
        "position": "rect: 100, 100, 500, 140",
        "text": [{"format": ["Mario"], "font": {"size": 12}, "text_align": align}],
    }
    (tmp_path / "s.pdf").write_bytes(sign_visible(signer, data, where))
    page = pdfs.rasterise(tmp_path / "s.pdf")
    # Look only at the stamp's area (the page has its own text elsewhere).
    stamp = page.crop((100, page.height - 140, 500, page.height - 100))
    x1, _, x2, _ = pdfs.pixel_box(stamp, is_ink)
    if side == "left":
        assert x1 < 10
    else:
        assert x2 > 390


def test_a_visible_signature_without_text_or_image_shows_name_and_date(signer, a4, tmp_path):
    data, _ = a4
    signed = sign_visible(signer, data, {"page": 1, "position": "rect: 20, 20, 300, 80"})
    (tmp_path / "s.pdf").write_bytes(signed)
    text = pdfs.run("pdftotext", str(tmp_path / "s.pdf"), "-").stdout.decode()
    assert "Firmato digitalmente da Mario Rossi" in text
    assert "14/03/2026 09:26" in text
