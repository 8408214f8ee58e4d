"""Clauses the signer approves, drawn on the page they belong to.

A signature request's `clauses[]` (CONTRACT §5) are extra signature areas:
each has an `id`, a `description`, whether it is `required`, and a `where`
with the same syntax and units as the request's own. The seed's example is the
Italian double signature (articles 1341-1342 of the civil code): a contract's
onerous clauses need an approval of their own, signed apart from the contract.

So each accepted clause whose `where` has a rectangle becomes a PAdES
signature of its own, by the signer's own certificate, in its own signature
field, with a visible appearance in the clause's rectangle: the `text[]` lines
of the clause's `where` (`nominativofirma`, `datafirma` substituted), or, when
it gives none, the clause's description and "Approved by <name>, <date>",
drawn with the embedded DejaVu font like every other signature box (accents
and all), over the handwritten signature when the signer drew one. The clause
signatures come first, then the request's own signature, which therefore
covers them; all of them are incremental updates of the one revision the
signer produces.

Why not a stamp drawn inside the revision of the request's signature? Drawing
on a page after someone signed it, be it in the page's content or as an
annotation, is a change pyHanko's difference analysis (and Acrobat's) cannot
tell from tampering: the earlier signature would be intact yet reported as
followed by unexplained changes ("other"). A new signature field, signed, is
the one addition an approval signature allows after it (form filling), so
every earlier signature stays valid, and each clause's approval is a
signature anyone can check on its own, with its /Reason naming the clause.

Nothing is drawn for a clause that was not accepted, for one whose `where`
gives only a page (an invisible area shows nothing; the audit trail records
the approval, as for every accepted clause), or on a CAdES document: an
enveloping .p7m signs the content as it is, and writing into it would change
what the signer is shown to have signed.
"""

import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimeStamper

from signing.appearance import (
    DATE_PLACEHOLDER,
    NAME_PLACEHOLDER,
    Appearance,
    TextBlock,
    parse_where,
)
from signing.documents import PdfInfo
from signing.engine_thread import run_sync
from signing.errors import PlacementError
from signing.pades import async_sign_pdf

APPROVAL_LINE = f"Approved by {NAME_PLACEHOLDER}, {DATE_PLACEHOLDER}"
# Text never wraps in a box: a long description is broken into lines here,
# and the box shrinks the whole text until it fits.
DESCRIPTION_WIDTH = 60
DESCRIPTION_LINES = 6
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ClauseArea:
    """An accepted clause to draw: its id, its signature field, its appearance."""

    id: str
    field_name: str
    reason: str
    appearance: Appearance


def clause_areas(
    clauses: Iterable[Mapping],
    *,
    accepted: Iterable[str],
    field_name: str,
    document: PdfInfo,
    image: bytes | None = None,
) -> list[ClauseArea]:
    """The accepted clauses of `clauses` (in their order) that have a rectangle,
    each with a field name derived from `field_name`. Raises PlacementError
    naming `clauses.<n>.where...` when a placement does not fit the document."""
    accepted = {str(c) for c in accepted}
    areas: list[ClauseArea] = []
    used = {field_name}
    for index, clause in enumerate(clauses):
        if str(clause.get("id")) not in accepted:
            continue
        where = clause.get("where") or {}
        if not where.get("position"):
            continue
        try:
            appearance = parse_where(where, document=document, image=image)
        except PlacementError as exc:
            raise PlacementError(exc.message, f"clauses.{index}.where.{exc.field}") from exc
        description = str(clause.get("description") or "").strip()
        if not appearance.blocks:
            appearance = replace(appearance, blocks=(_approval_block(description),))
        name = f"{field_name}-clause-{_UNSAFE.sub('_', str(clause['id']))}"
        if name in used:  # ids "a.b" and "a_b" read the same once made safe
            name = f"{name}-{index}"
        used.add(name)
        reason = f"Approval of clause {clause['id']}"
        if description:
            reason += f": {description}"
        areas.append(
            ClauseArea(id=str(clause["id"]), field_name=name, reason=reason, appearance=appearance)
        )
    return areas


def _approval_block(description: str) -> TextBlock:
    lines = textwrap.wrap(description, DESCRIPTION_WIDTH)[:DESCRIPTION_LINES]
    return TextBlock(lines=(*lines, APPROVAL_LINE), align="center")


async def async_sign_clauses(
    data: bytes,
    areas: Iterable[ClauseArea],
    *,
    signer: signers.Signer,
    level: str = "B-B",
    timestamper: TimeStamper | None = None,
    name: str = "",
    signed_at: datetime | None = None,
) -> bytes:
    """`data` with one signature per clause area, each an incremental update.

    `level` is the request's: clause signatures are B-B for B-B and B-T above
    it; the request's own signature, which comes after them, adds the
    validation data (B-LT) and the archive timestamp (B-LTA) that cover them.
    """
    clause_level = "B-B" if level == "B-B" else "B-T"
    signed_at = signed_at or datetime.now(UTC)
    for area in areas:
        data = await async_sign_pdf(
            data,
            signer=signer,
            field_name=area.field_name,
            level=clause_level,
            appearance=area.appearance,
            timestamper=timestamper if clause_level != "B-B" else None,
            reason=area.reason,
            name=name,
            signed_at=signed_at,
        )
    return data


def sign_clauses(
    data: bytes,
    areas: Iterable[ClauseArea],
    *,
    signer: signers.Signer,
    level: str = "B-B",
    timestamper: TimeStamper | None = None,
    name: str = "",
    signed_at: datetime | None = None,
) -> bytes:
    """Synchronous `async_sign_clauses`, safe to call from inside an event loop."""
    return run_sync(
        async_sign_clauses(
            data,
            list(areas),
            signer=signer,
            level=level,
            timestamper=timestamper,
            name=name,
            signed_at=signed_at,
        )
    )
