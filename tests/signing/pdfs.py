"""Test PDFs, built in memory: plain, multi-page, large, encrypted, broken."""

import os
import zlib
from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)


def _font(writer: PdfFileWriter) -> generic.IndirectObject:
    return writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
            }
        )
    )


def _page(writer, font_ref, *, size, text, media_origin=(0.0, 0.0), extra_xobjects=None):
    x0, y0 = media_origin
    content = b"BT /F1 14 Tf %g %g Td (%s) Tj ET" % (
        x0 + 72,
        y0 + size[1] - 72,
        text.encode("latin-1"),
    )
    xobjects = generic.DictionaryObject()
    for name, ref in (extra_xobjects or {}).items():
        xobjects[pdf_name("/" + name)] = ref
        content += b" q 10 0 0 10 %g %g cm /%s Do Q" % (x0 + 72, y0 + 72, name.encode())
    stream = generic.StreamObject(stream_data=content)
    stream.compress()
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font_ref})}
    )
    if xobjects:
        resources[pdf_name("/XObject")] = xobjects
    return PageObject(
        contents=writer.add_object(stream),
        media_box=(x0, y0, x0 + size[0], y0 + size[1]),
        resources=resources,
    )


def _write(writer: PdfFileWriter) -> bytes:
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def simple_pdf(pages: int = 1, size=A4, *, text: str = "Contratto di prova", sizes=None) -> bytes:
    """`pages` pages of `size` (or one page per entry of `sizes`), each with a line of text."""
    writer = PdfFileWriter()
    font_ref = _font(writer)
    for index, page_size in enumerate(sizes or [size] * pages):
        writer.insert_page(_page(writer, font_ref, size=page_size, text=f"{text} {index + 1}"))
    return _write(writer)


def offset_pdf(origin=(100.0, 200.0), size=A4) -> bytes:
    """One page whose MediaBox does not start at (0, 0)."""
    writer = PdfFileWriter()
    writer.insert_page(_page(writer, _font(writer), size=size, text="Offset", media_origin=origin))
    return _write(writer)


def large_pdf(target_bytes: int = 10 * 1024 * 1024, pages: int = 4) -> bytes:
    """About `target_bytes`: pages each showing an incompressible image (a scan, say)."""
    writer = PdfFileWriter()
    font_ref = _font(writer)
    side = int(((target_bytes / pages) / 3) ** 0.5)
    for index in range(pages):
        image = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(side),
                pdf_name("/Height"): generic.NumberObject(side),
                pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
            },
            # Random pixels do not compress: the file stays as big as asked.
            encoded_data=zlib.compress(os.urandom(side * side * 3), 1),
        )
        writer.insert_page(
            _page(
                writer,
                font_ref,
                size=A4,
                text=f"Scansione {index + 1}",
                extra_xobjects={"Im0": writer.add_object(image)},
            )
        )
    return _write(writer)


def encrypted_pdf(user_password: str = "segreto") -> bytes:
    writer = PdfFileWriter()
    writer.insert_page(_page(writer, _font(writer), size=A4, text="Riservato"))
    writer.encrypt("owner-" + user_password, user_password)
    return _write(writer)


def truncated_pdf() -> bytes:
    """A real PDF cut short: no cross-reference table, no trailer."""
    data = simple_pdf()
    return data[: len(data) // 3]


def garbage_pdf() -> bytes:
    """Starts like a PDF, then nothing a parser can use."""
    return b"%PDF-1.7\n" + os.urandom(4096)


def png_image(width: int = 60, height: int = 30, rgba=(20, 40, 200, 255)) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("RGBA", (width, height), rgba).save(out, format="PNG")
    return out.getvalue()


def jpeg_image(width: int = 60, height: int = 30, rgb=(200, 40, 20)) -> bytes:
    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (width, height), rgb).save(out, format="JPEG")
    return out.getvalue()


# --- looking at the result with tools that are not ours -------------------------


def run(*command: str, input: bytes | None = None, check: bool = True):
    import subprocess

    return subprocess.run(command, input=input, capture_output=True, check=check, timeout=60)


def rasterise(path, page: int = 1, dpi: int = 72):
    """The page as a Pillow RGB image, drawn by poppler's pdftoppm."""
    from PIL import Image

    result = run("pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", str(path))
    return Image.open(BytesIO(result.stdout)).convert("RGB")


def pixel_box(image, predicate, *, page_height: float | None = None, dpi: int = 72):
    """(x1, y1, x2, y2) in PDF points (origin bottom-left) of the pixels matching
    `predicate`, or None. `page_height` in pt maps rows exactly (the rendered
    height is rounded to whole pixels); without it, coordinates are in pixels."""
    width, height = image.size
    pixels = image.load()
    xs, ys = [], []
    for y in range(height):
        for x in range(width):
            if predicate(pixels[x, y]):
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    if page_height is None:
        return (min(xs), height - max(ys) - 1, max(xs) + 1, height - min(ys))
    unit = 72 / dpi
    return (
        min(xs) * unit,
        page_height - (max(ys) + 1) * unit,
        (max(xs) + 1) * unit,
        page_height - min(ys) * unit,
    )


# --- signers, timestamps and trust from a test CA ---------------------------------


def make_signer(ca, name: str = "Mario Rossi", owner: str = "signer:1", algorithm=None):
    from signing.keys import KeyAlgorithm
    from signing.pki import Profile, Subject

    issued = ca.issue(
        profile=Profile.ADVANCED,
        subject=Subject(common_name=name),
        owner=owner,
        algorithm=algorithm or KeyAlgorithm.P256,
    )
    return ca.signer(issued, issued.key_reference, owner=owner)


def make_timestamper(ca):
    from signing.pki import Profile
    from signing.tsa import TimeStampAuthority

    return TimeStampAuthority(*ca.service(Profile.TSA), chain=ca.chain).timestamper()


def validation_context(ca, *, crls=None, revocation_mode: str = "require"):
    """What a caller hands to B-LT/B-LTA signing: our CRLs, built in-process."""
    from pyhanko_certvalidator import ValidationContext

    from signing.signers import to_asn1

    return ValidationContext(
        trust_roots=[to_asn1(ca.root)],
        other_certs=[to_asn1(ca.issuing)],
        crls=crls if crls is not None else [ca.crl([]), ca.root_crl()],
        allow_fetching=False,
        revocation_mode=revocation_mode,
    )
