"""The audit trail: an append-only, hash-chained list of events per practice.

Each event's hash is the SHA-256 of a canonical JSON of the previous event's
hash, its sequence number, kind, actor (id and label, IP, user agent), time,
data and the SHA-256 of the document revision it produced (or ""). The
practice keeps the length and the head of its chain, so that removing the last
events is detected as well as editing, deleting or reordering any of them.

Events are appended by the services, in the transaction of the change they
record, with the practice row locked. A new practice's first events are
chained before its row exists and inserted with it (audit_chain_start): no
one else can see the practice before that transaction commits.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone

from accounts.models import User
from portal import inserts
from practices.models import AuditEvent, Practice

GENESIS = "0" * 64
SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who did it and from where; `user` is None for the system (tasks, expiry)."""

    user: User | None = None
    ip: str = ""
    user_agent: str = ""

    @property
    def label(self) -> str:
        if self.user is None:
            return SYSTEM
        return f"{self.user.username}@{self.user.organization.slug}"


SYSTEM_ACTOR = Actor()


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    previous_hash: str,
    sequence: int,
    kind: str,
    actor_id: str,
    actor_label: str,
    ip: str,
    user_agent: str,
    created: datetime,
    data: dict,
    revision_sha256: str,
) -> str:
    canonical = json.dumps(
        {
            "previous": previous_hash,
            "sequence": sequence,
            "kind": kind,
            "actor": {"id": actor_id, "label": actor_label, "ip": ip, "user_agent": user_agent},
            "time": _time(created),
            "data": data,
            "revision": revision_sha256,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash_of(event: AuditEvent) -> str:
    return event_hash(
        previous_hash=event.previous_hash,
        sequence=event.sequence,
        kind=event.kind,
        actor_id=str(event.actor_id or ""),
        actor_label=event.actor_label,
        ip=event.ip,
        user_agent=event.user_agent,
        created=event.created,
        data=event.data,
        revision_sha256=event.revision_sha256,
    )


def _event(
    practice: Practice,
    *,
    sequence: int,
    previous_hash: str,
    kind: str,
    actor: Actor,
    data: dict | None,
    revision_sha256: str,
) -> AuditEvent:
    # A round trip through JSON: the hash must be computed over what the
    # database gives back (tuples become lists, keys become strings).
    data = json.loads(json.dumps(data or {}, allow_nan=False))
    event = AuditEvent(
        practice=practice,
        sequence=sequence,
        kind=kind,
        actor=actor.user,
        actor_label=actor.label[:300],
        ip=actor.ip[:45],
        user_agent=actor.user_agent[:500],
        data=data,
        revision_sha256=revision_sha256,
        previous_hash=previous_hash,
        created=timezone.now(),
    )
    event.hash = _hash_of(event)
    return event


@dataclass(frozen=True)
class Entry:
    """One event to append: what audit_append takes, but the practice and actor."""

    kind: str
    data: dict | None = None
    revision_sha256: str = ""


def _chained(practice: Practice, actor: Actor, entries: list[Entry]) -> list[AuditEvent]:
    """`entries` as events after the practice's head, and the practice's length
    and head moved to the last of them (nothing written)."""
    events: list[AuditEvent] = []
    previous = practice.audit_head or GENESIS
    for sequence, entry in enumerate(entries, practice.audit_length):
        event = _event(
            practice,
            sequence=sequence,
            previous_hash=previous,
            kind=entry.kind,
            actor=actor,
            data=entry.data,
            revision_sha256=entry.revision_sha256,
        )
        events.append(event)
        previous = event.hash
    if events:
        practice.audit_length = events[-1].sequence + 1
        practice.audit_head = events[-1].hash
    return events


def audit_extend(
    *, practice: Practice, actor: Actor = SYSTEM_ACTOR, entries: list[Entry]
) -> list[AuditEvent]:
    """Append `entries` to `practice`'s chain, in order, with one insert and one
    update of the head. The caller holds the practice row (select_for_update)
    inside the transaction of the change."""
    events = _chained(practice, actor, entries)
    if events:
        inserts.prepare(events).run()
        Practice.objects.filter(pk=practice.pk).update(
            audit_length=practice.audit_length, audit_head=practice.audit_head
        )
    return events


def audit_append(
    *,
    practice: Practice,
    kind: str,
    actor: Actor = SYSTEM_ACTOR,
    data: dict | None = None,
    revision_sha256: str = "",
) -> AuditEvent:
    """Append one event to `practice`'s chain (see audit_extend)."""
    entry = Entry(kind=kind, data=data, revision_sha256=revision_sha256)
    return audit_extend(practice=practice, actor=actor, entries=[entry])[0]


def audit_chain_start(
    *, practice: Practice, actor: Actor = SYSTEM_ACTOR, entries: list[Entry]
) -> list[AuditEvent]:
    """The first events of a practice that is not in the database yet, chained
    exactly as audit_extend would chain them, and the practice's length and
    head set to match. Nothing is written: the caller inserts the practice and
    then these events in one transaction."""
    if practice.audit_length or practice.audit_head:
        raise ValueError("the practice already has an audit chain")
    return _chained(practice, actor, entries)


@dataclass(frozen=True)
class Broken:
    practice_id: str
    sequence: int
    event_id: int | None
    why: str

    def __str__(self) -> str:
        where = f"event {self.sequence}" + (f" (row {self.event_id})" if self.event_id else "")
        return f"practice {self.practice_id}: {where}: {self.why}"


def audit_verify(*, practice: Practice) -> Broken | None:
    """The first broken link of `practice`'s chain, or None when it is whole."""
    previous = GENESIS
    expected = 0
    for event in AuditEvent.objects.filter(practice=practice).order_by("sequence", "id"):
        why = None
        if event.sequence != expected:
            why = f"found sequence {event.sequence} where {expected} was expected"
        elif event.previous_hash != previous:
            why = "does not follow the previous event (previous hash differs)"
        elif _hash_of(event) != event.hash:
            why = "its content does not match its hash (edited)"
        if why is not None:
            return Broken(str(practice.pk), expected, event.pk, why)
        previous = event.hash
        expected += 1
    if expected != practice.audit_length:
        return Broken(
            str(practice.pk),
            expected,
            None,
            f"the chain ends after {expected} events, the practice recorded"
            f" {practice.audit_length}",
        )
    if previous != (practice.audit_head or GENESIS):
        return Broken(
            str(practice.pk), max(expected - 1, 0), None, "the last event is not the recorded head"
        )
    return None
