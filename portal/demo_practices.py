"""The demo organization's sample practices: something for the demo signer to
sign right after `make run`, one practice for each way of signing that needs no
outside service (click with a clause, drawn, advanced with the SMS code the
console prints, SPID through the demonstration identity provider).

They go through the same checks and service as the API's create, made by the
demo admin, without emails (the signer finds them in the inbox).
"""

import base64
from io import BytesIO

from accounts.models import Organization, User
from practices import services
from practices.api.schemas import DSTCreate
from practices.audit import Actor
from practices.models import Practice
from practices.validation import practice_check

SIGNATURE_AREA = {"page": 1, "position": "rect: 340, 70, 540, 130"}
CLAUSE_AREA = {"page": 1, "position": "rect: 56, 70, 300, 130"}


def sample_pdf(title: str) -> bytes:
    """A one-page A4 document with `title`, a few lines and room to sign."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.setTitle(title)
    page.setFont("Helvetica-Bold", 18)
    page.drawString(56, 770, title)
    page.setFont("Helvetica", 11)
    lines = [
        "This is a sample document of the Sigillo demonstration.",
        "Questo è un documento di esempio della dimostrazione di Sigillo.",
        "",
        "1. The parties agree to the terms written here.",
        "2. The signature below is made with a certificate of the Sigillo CA.",
    ]
    for number, line in enumerate(lines):
        page.drawString(56, 720 - 16 * number, line)
    page.line(340, 68, 540, 68)
    page.drawString(340, 54, "Signature / Firma")
    page.showPage()
    page.save()
    return buffer.getvalue()


def _request(signer: User, **fields) -> dict:
    return {
        "signer": {
            "email": signer.email,
            "first_name": signer.name,
            "last_name": signer.surname,
            "phone": signer.phone or None,
        },
        "profile": "pades-t",
        "display_name": "nominativofirma",
        "where": SIGNATURE_AREA,
        **fields,
    }


def _bodies(signer: User) -> list[dict]:
    simple = ["certificate__is_simple__exact=true"]
    clause = {
        "id": "terms",
        "required": True,
        "description": "I accept the terms / Accetto le condizioni",
        "where": CLAUSE_AREA,
    }
    practices = [
        (
            "Supply contract",
            _request(signer, constraints=simple, clauses=[clause], declinable=True),
        ),
        (
            "Delivery receipt",
            _request(signer, constraints=simple, provider_options={"unlock_mode": "grapho"}),
        ),
        ("Loan agreement", _request(signer, constraints=[])),  # advanced: a code by SMS
        (
            "Membership form",
            _request(signer, constraints=["is_disposable__eq=true", "identity_request__flow=spid"]),
        ),
    ]
    return [
        {
            "title": title,
            "metadata": {"studio_email_disabled": True},
            "documents": [
                {
                    "display_name": f"{title}.pdf",
                    "document": base64.b64encode(sample_pdf(title)).decode(),
                    "groups": [[request]],
                }
            ],
        }
        for title, request in practices
    ]


def demo_practices_create(*, organization: Organization, admin: User, signer: User) -> int:
    """The sample practices for `signer`, unless the organization has practices
    already; returns how many were made."""
    if Practice.objects.filter(organization=organization).exists():
        return 0
    bodies = _bodies(signer)
    for body in bodies:
        services.practice_create(
            actor=Actor(user=admin),
            organization=organization,
            checked=practice_check(DSTCreate.model_validate(body)),
        )
    return len(bodies)
