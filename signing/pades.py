"""PAdES signatures: B-B, B-T, B-LT and B-LTA, each an incremental revision.

Earlier revisions are never rewritten, so earlier signatures stay valid.

Speed, after pyHanko's known costs: the signer is a HandleSigner over a cached
key; the space for the signature is reserved from what it will hold (the
certificates, the signature value, the timestamp token the timestamper already
returned once), so pyHanko does not sign twice to measure it; one timestamper
instance is reused by the caller; and the sync wrapper runs the engine on a
signing thread of the caller's own, always from the same stack depth
(signing/engine_thread.py says why that matters on CPython 3.11).

B-LT and B-LTA embed validation information taken from `validation_context`,
which the caller builds with the CRLs and OCSP responses already in hand and
`allow_fetching=False`: signing never calls out, not even to our own server.
"""

import logging
from datetime import UTC, datetime
from io import BytesIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext

from signing.appearance import Appearance
from signing.documents import open_pdf
from signing.engine_thread import run_sync
from signing.errors import EngineError, PlacementError, SignatureFailed

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


class _OfflineByDesign(logging.Filter):
    """pyHanko warns when it embeds validation data without fetching; here that
    is the design (the caller hands in the CRLs and OCSP responses)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_OfflineByDesign())
DIGEST = "sha256"

# Reserved space, in hex digits (two per DER byte), beyond the certificates,
# the signature value and the timestamp token: signed attributes, algorithm
# identifiers and framing measured about 450 bytes of DER (P-256 and RSA-2048,
# B-B and B-T); allow 1 KB, plus 2 KB of headroom for a TSA that answers with a
# longer token (another policy, accuracy, a longer chain) than the one measured.
_OVERHEAD_HEX = 2 * 1024
_HEADROOM_HEX = 2 * 2048
# An RSA-4096 signature value: a larger key than we issue, to stay on the safe side.
_SIGNATURE_HEX = 2 * 520


async def _reserve(signer: signers.Signer, timestamper: TimeStamper | None) -> int:
    """Hex digits to reserve for the CMS: never less than it needs, no dry run."""
    certificates = {signer.signing_cert.dump()}
    certificates.update(c.dump() for c in signer.cert_registry)
    size = _OVERHEAD_HEX + _HEADROOM_HEX + _SIGNATURE_HEX
    size += 2 * sum(len(c) for c in certificates)
    if timestamper is not None:
        # pyHanko's own size estimate keeps one token per timestamper instance;
        # reading it costs a TSA call only the first time.
        token = await timestamper.async_dummy_response(DIGEST)
        size += 2 * len(token.dump())
    return size


def _check_field_name(reader, field_name: str) -> None:
    if not field_name or "." in field_name:
        raise PlacementError("a signature field name must be non-empty, without dots", "field")
    if any(True for _ in fields.enumerate_sig_fields(reader, with_name=field_name)):
        raise PlacementError(f'the document already has a signature field "{field_name}"', "field")


async def async_sign_pdf(
    data: bytes,
    *,
    signer: signers.Signer,
    field_name: str,
    level: str = "B-B",
    appearance: Appearance | None = None,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
    reason: str = "",
    name: str = "",
    location: str = "",
    signed_at: datetime | None = None,
) -> bytes:
    """`data` with one more signature, appended as an incremental revision.

    `appearance` (from appearance.parse_where) places a visible signature; None
    or an appearance without a box makes an invisible one. `name` is the
    signer's name for the signature dictionary and `nominativofirma`.
    Raises PlacementError (duplicate field name), EncryptedDocument,
    UnreadableDocument, or SignatureFailed (TSA or pyHanko failure); on any
    error nothing is returned.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown PAdES level {level!r}: one of {', '.join(LEVELS)}")
    if level != "B-B" and timestamper is None:
        raise ValueError(f"PAdES {level} needs a timestamper")
    if level in ("B-LT", "B-LTA") and validation_context is None:
        raise ValueError(f"PAdES {level} needs a validation context with revocation data")

    open_pdf(data)  # EncryptedDocument / UnreadableDocument before any work
    buffer = BytesIO(data)
    try:
        writer = IncrementalPdfFileWriter(buffer, strict=False)
    except PdfError as exc:  # pragma: no cover - open_pdf has read it already
        raise SignatureFailed(f"the PDF cannot be updated: {exc}") from exc
    _check_field_name(writer.prev, field_name)

    long_term = level in ("B-LT", "B-LTA")
    metadata = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=DIGEST,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        name=name or None,
        location=location or None,
        embed_validation_info=long_term,
        use_pades_lta=level == "B-LTA",
        # Without embedding, a context would only make pyHanko validate the
        # signer before signing: work the caller did when it issued the key.
        validation_context=validation_context if long_term else None,
    )
    appearance = appearance or Appearance(page=0)
    stamp_style = None
    if appearance.visible:
        field_spec = fields.SigFieldSpec(
            sig_field_name=field_name, on_page=appearance.page, box=appearance.box
        )
        stamp_style = appearance.stamp_style(
            signer_name=name, signed_at=signed_at or datetime.now(UTC)
        )
    else:
        field_spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=appearance.page)

    pdf_signer = PdfSigner(
        metadata,
        signer,
        timestamper=timestamper if level != "B-B" else None,
        stamp_style=stamp_style,
        new_field_spec=field_spec,
    )
    try:
        bytes_reserved = await _reserve(signer, pdf_signer.default_timestamper)
        await pdf_signer.async_sign_pdf(writer, bytes_reserved=bytes_reserved, in_place=True)
    except EngineError:
        raise
    except SigningError as exc:
        raise SignatureFailed(f"pyHanko refused to sign: {exc}") from exc
    except Exception as exc:  # TSA down or refusing, revocation data missing, ...
        raise SignatureFailed(f"the signature could not be completed: {exc}") from exc
    return buffer.getvalue()


def sign_pdf(
    data: bytes,
    *,
    signer: signers.Signer,
    field_name: str,
    level: str = "B-B",
    appearance: Appearance | None = None,
    timestamper: TimeStamper | None = None,
    validation_context: ValidationContext | None = None,
    reason: str = "",
    name: str = "",
    location: str = "",
    signed_at: datetime | None = None,
) -> bytes:
    """Synchronous `async_sign_pdf` (signing/engine_thread.py), safe to call
    from inside an event loop."""
    return run_sync(
        async_sign_pdf(
            data,
            signer=signer,
            field_name=field_name,
            level=level,
            appearance=appearance,
            timestamper=timestamper,
            validation_context=validation_context,
            reason=reason,
            name=name,
            location=location,
            signed_at=signed_at,
        )
    )
