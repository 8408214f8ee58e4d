"""The audit report of a performed practice (generate_report).

A PDF in the organization's language (Italian or English) with the practice,
each document's SHA-256 before the first and after the last signature, the
signatures, and every event of the audit trail with its time, actor, address
and user agent. It is sealed with the organization's seal (PAdES-B-T,
invisible) so that a reader can tell it came from us and has not changed since,
stored beside the practice's documents, and recorded in the audit trail.
"""

import hashlib
import logging
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from practices.audit import audit_append, audit_verify
from practices.models import AuditEvent, Practice, Revision, SignatureRequest

logger = logging.getLogger(__name__)

FIELD_NAME = "AuditReportSeal"

TEXTS = {
    "it": {
        "title": "Rapporto di audit",
        "practice": "Pratica",
        "name": "Titolo",
        "id": "Identificativo",
        "organization": "Organizzazione",
        "creator": "Creata da",
        "created": "Creata il",
        "updated": "Ultima modifica",
        "status": "Stato",
        "reason": "Motivo",
        "documents": "Documenti",
        "original": "Originale (revisione 0), SHA-256",
        "final": "Finale (revisione {n}), SHA-256",
        "signatures": "Firme",
        "signer": "Firmatario",
        "type": "Tipo",
        "profile": "Profilo",
        "time": "Data e ora (UTC)",
        "events": "Eventi",
        "event": "Evento",
        "actor": "Autore",
        "ip": "Indirizzo IP",
        "user_agent": "User agent",
        "chain": "Catena di hash degli eventi",
        "chain_ok": "integra ({n} eventi, ultimo hash {head})",
        "chain_broken": "INTERROTTA: {why}",
        "generated": "Generato il {when} (UTC) e sigillato da {org}.",
        "none": "nessuna",
        "reason_seal": "Rapporto di audit",
        "seal": "sigillo automatico",
        "statuses": {
            "waiting": "in preparazione",
            "pending": "in attesa",
            "performed": "completata",
            "cancelled": "annullata",
            "expired": "scaduta",
            "declined": "rifiutata",
        },
    },
    "en": {
        "title": "Audit report",
        "practice": "Practice",
        "name": "Title",
        "id": "Identifier",
        "organization": "Organization",
        "creator": "Created by",
        "created": "Created",
        "updated": "Last changed",
        "status": "Status",
        "reason": "Reason",
        "documents": "Documents",
        "original": "Original (revision 0), SHA-256",
        "final": "Final (revision {n}), SHA-256",
        "signatures": "Signatures",
        "signer": "Signer",
        "type": "Type",
        "profile": "Profile",
        "time": "Date and time (UTC)",
        "events": "Events",
        "event": "Event",
        "actor": "Actor",
        "ip": "IP address",
        "user_agent": "User agent",
        "chain": "Hash chain of the events",
        "chain_ok": "intact ({n} events, last hash {head})",
        "chain_broken": "BROKEN: {why}",
        "generated": "Generated on {when} (UTC) and sealed by {org}.",
        "none": "none",
        "reason_seal": "Audit report",
        "seal": "automatic seal",
        "statuses": {},
    },
}


class ReportFailed(Exception):
    """The report could not be sealed (the TSA is down): worth a retry."""


def report_path(practice: Practice) -> str:
    return f"practices/{practice.pk}/report.pdf"


def report_exists(practice: Practice) -> bool:
    return practice.generate_report and default_storage.exists(report_path(practice))


def report_file(practice: Practice):
    return default_storage.open(report_path(practice), "rb")


def report_url(practice: Practice, slug: str) -> str | None:
    """The report's download URL once it exists, else None."""
    if not report_exists(practice):
        return None
    return f"{settings.BASE_URL}/api/v1/{slug}/signature-transactions/{practice.pk}/report"


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@cache
def _fonts() -> tuple[str, str]:
    """A regular and a monospaced font: the vendored DejaVu Sans covers more
    than Helvetica's WinAnsi (names from anywhere in Europe)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from signing.appearance import FONT_PATH

    try:
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT_PATH)))
    except Exception:  # pragma: no cover - a build without the font
        logger.warning("the report falls back to Helvetica")
        return "Helvetica", "Courier"
    return "DejaVuSans", "Courier"


def report_build(*, practice: Practice, generated_at: datetime | None = None) -> bytes:
    """The report's PDF, not yet sealed."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    organization = practice.organization
    texts = TEXTS.get(organization.language, TEXTS["en"])
    regular, mono = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=9, wordWrap="CJK")
    hashes = ParagraphStyle("hash", parent=body, fontName=mono, fontSize=8, leading=10)
    heading = ParagraphStyle("h2", parent=body, fontSize=12, leading=16, spaceBefore=8)
    title = ParagraphStyle("h1", parent=body, fontSize=16, leading=20, spaceAfter=6)

    def status(value: str) -> str:
        return texts["statuses"].get(value, value)

    def p(text: object, style=body) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    def table(rows, widths, header=True) -> Table:
        t = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
        style = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")))
        t.setStyle(TableStyle(style))
        return t

    story = [p(f"{texts['title']}: {practice.title or practice.pk}", title)]
    creator = practice.created_by
    story.append(
        table(
            [
                [p(texts["name"]), p(practice.title or "-")],
                [p(texts["id"]), p(practice.pk, hashes)],
                [p(texts["organization"]), p(f"{organization.name} ({organization.slug})")],
                [p(texts["creator"]), p(f"{creator.username}@{organization.slug}")],
                [p(texts["created"]), p(_time(practice.created))],
                [p(texts["updated"]), p(_time(practice.updated))],
                [p(texts["status"]), p(status(practice.status))],
                [p(texts["reason"]), p(practice.reason or "-")],
            ],
            [40 * mm, 130 * mm],
            header=False,
        )
    )

    story.append(p(texts["documents"], heading))
    for document in practice.documents.order_by("order"):
        revisions = list(Revision.objects.filter(document=document).order_by("number"))
        story.append(p(f"{document.order + 1}. {document.display_name or document.pk}"))
        story.append(p(document.pk, hashes))
        if revisions:
            story.append(p(texts["original"], small))
            story.append(p(revisions[0].sha256, hashes))
            story.append(p(texts["final"].format(n=revisions[-1].number), small))
            story.append(p(revisions[-1].sha256, hashes))
        story.append(Spacer(1, 3 * mm))

    story.append(p(texts["signatures"], heading))
    requests = SignatureRequest.objects.filter(document__practice=practice).order_by(
        "document__order", "group", "position"
    )
    rows = [[p(texts[k], small) for k in ("signer", "type", "profile", "status", "time")]]
    for request in requests:
        name = f"{request.signer_first_name} {request.signer_last_name}".strip()
        rows.append(
            [
                p(f"{name} <{request.signer_email}>", small),
                p(texts["seal"] if request.automatic else request.signature_type, small),
                p(request.profile, small),
                p(status(request.status), small),
                p(_time(request.performed_at or request.decline_datetime), small),
            ]
        )
    story.append(table(rows, [62 * mm, 28 * mm, 22 * mm, 22 * mm, 36 * mm]))

    story.append(p(texts["events"], heading))
    rows = [[p(texts[k], small) for k in ("time", "event", "actor", "ip", "user_agent")]]
    for event in AuditEvent.objects.filter(practice=practice).order_by("sequence"):
        rows.append(
            [
                p(_time(event.created), small),
                p(f"{event.sequence}. {event.kind}", small),
                p(event.actor_label, small),
                p(event.ip or "-", small),
                p(event.user_agent or "-", small),
            ]
        )
    story.append(table(rows, [30 * mm, 36 * mm, 38 * mm, 24 * mm, 42 * mm]))

    broken = audit_verify(practice=practice)
    chain = (
        texts["chain_ok"].format(n=practice.audit_length, head=practice.audit_head)
        if broken is None
        else texts["chain_broken"].format(why=broken)
    )
    story.append(p(texts["chain"], heading))
    story.append(p(chain, small))
    story.append(Spacer(1, 4 * mm))
    story.append(
        p(
            texts["generated"].format(
                when=_time(generated_at or datetime.now(UTC)), org=organization.name
            ),
            small,
        )
    )

    buffer = BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{texts['title']} {practice.pk}",
        author=organization.name,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        invariant=1,
    ).build(story)
    return buffer.getvalue()


def report_seal(data: bytes, *, practice: Practice) -> bytes:
    """`data` sealed with the organization's seal, PAdES-B-T, invisible."""
    from portal import trust
    from practices.signatures import seal_certificate
    from signing.errors import EngineError
    from signing.pades import sign_pdf

    organization = practice.organization
    texts = TEXTS.get(organization.language, TEXTS["en"])
    try:
        return sign_pdf(
            data,
            signer=trust.signer(seal_certificate(organization)),
            field_name=FIELD_NAME,
            level="B-T",
            timestamper=trust.timestamper(),
            reason=texts["reason_seal"],
            name=organization.name,
        )
    except EngineError as exc:
        raise ReportFailed(f"the report could not be sealed: {exc}") from exc


def report_generate(*, practice: Practice) -> bool:
    """Build, seal and store the report of a performed practice once; True when
    this call stored it. ReportFailed when sealing failed (worth a retry)."""
    practice = Practice.objects.select_related("organization", "created_by").get(pk=practice.pk)
    if not practice.generate_report or practice.status != Practice.Status.PERFORMED:
        return False
    if report_exists(practice):
        return False
    sealed = report_seal(report_build(practice=practice), practice=practice)
    digest = hashlib.sha256(sealed).hexdigest()
    with transaction.atomic():
        practice = (
            Practice.objects.select_for_update(of=("self",))
            .select_related("organization", "created_by")
            .get(pk=practice.pk)
        )
        if report_exists(practice):  # another worker was quicker
            return False
        name = default_storage.save(report_path(practice), ContentFile(sealed))
        try:
            audit_append(
                practice=practice,
                kind="report.generated",
                data={"size": len(sealed), "file": name},
                revision_sha256=digest,
            )
        except BaseException:
            default_storage.delete(name)
            raise
    return True
