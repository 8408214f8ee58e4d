"""The signature type of a request, from its unlock mode and constraints (CONTRACT §5).

| type      | asked for with                                                        |
|-----------|-----------------------------------------------------------------------|
| click     | constraints ["certificate__is_simple__exact=true"], unlock_mode click |
|           | (or no unlock_mode)                                                   |
| otp       | the same constraint, unlock_mode otp                                  |
| grapho    | the same constraint, unlock_mode grapho                               |
| advanced  | no constraints                                                        |
| qualified | ["certificate__is_qualified__exact=true"]                             |
| spid      | "is_disposable__eq=true" and "identity_request__flow=spid" (with or   |
|           | without the qualified constraint, as Signing's sandbox allows)        |

The constraints decide; unlock_mode only chooses among the simple types, since
advanced and qualified certificates are always unlocked by OTP.
"""

SIMPLE = "certificate__is_simple__exact=true"
QUALIFIED = "certificate__is_qualified__exact=true"
DISPOSABLE = "is_disposable__eq=true"
SPID_FLOW = "identity_request__flow=spid"
KNOWN_CONSTRAINTS = (SIMPLE, QUALIFIED, DISPOSABLE, SPID_FLOW)

UNLOCK_MODES = ("click", "otp", "grapho")
TYPES = ("click", "otp", "grapho", "advanced", "qualified", "spid")


class ConflictingConstraints(ValueError):
    """The constraints ask for two signature types at once, or half of one."""


def signature_type(*, unlock_mode: str | None, constraints: list[str] | tuple[str, ...]) -> str:
    unknown = [c for c in constraints if c not in KNOWN_CONSTRAINTS]
    if unknown:
        raise ConflictingConstraints(
            f"unknown constraint {unknown[0]!r}: use one of {', '.join(KNOWN_CONSTRAINTS)}"
        )
    if unlock_mode not in (None, "", *UNLOCK_MODES):
        raise ConflictingConstraints(f"unknown unlock_mode {unlock_mode!r}")
    given = set(constraints)
    spid = {DISPOSABLE, SPID_FLOW}
    if given & spid:
        if not spid <= given:
            raise ConflictingConstraints(
                f"a SPID signature needs both {DISPOSABLE} and {SPID_FLOW}"
            )
        if SIMPLE in given:
            raise ConflictingConstraints(f"{SIMPLE} cannot be asked together with SPID")
        return "spid"
    if QUALIFIED in given:
        if SIMPLE in given:
            raise ConflictingConstraints(f"{SIMPLE} and {QUALIFIED} exclude each other")
        return "qualified"
    if SIMPLE in given:
        return unlock_mode or "click"
    return "advanced"
