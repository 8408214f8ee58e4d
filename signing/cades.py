"""CAdES-B-B and CAdES-B-T enveloping signatures (.p7m), with co-signatures.

A .p7m is a CMS SignedData that carries the signed file. A second signer
does not wrap it again (that would be a countersigned envelope of an
envelope): the new SignerInfo is added beside the first, over the same
encapsulated content, and the certificates are merged. Every SignerInfo
stays byte-for-byte as it was, so earlier signatures stay valid.
"""

from asn1crypto import cms, core
from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimeStamper

from signing.engine_thread import run_sync
from signing.errors import EngineError, SignatureFailed, UnreadableDocument

LEVELS = ("B-B", "B-T")
DIGEST = "sha256"


def read_signed_data(data: bytes) -> cms.SignedData | None:
    """The SignedData of an enveloping .p7m (DER, or PEM as some tools write
    it), or None when `data` is not a CMS SignedData at all."""
    data = _unarmour(data)
    if data[:1] != b"\x30":  # a DER SEQUENCE
        return None
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            return None
        signed_data = info["content"]
        # asn1crypto parses lazily: touch what we rely on now, not later.
        signed_data["encap_content_info"]["content_type"].native  # noqa: B018
        len(signed_data["signer_infos"])
    except Exception:
        return None
    return signed_data


def _unarmour(data: bytes) -> bytes:
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        from asn1crypto import pem

        try:
            _, _, der = pem.unarmor(stripped)
            return der
        except ValueError:
            return data
    return data


def encapsulated_content(signed_data: cms.SignedData) -> bytes:
    content = signed_data["encap_content_info"]["content"]
    if content.native is None:
        raise UnreadableDocument("the .p7m is detached: it does not carry the signed file")
    return content.native


async def async_sign_cades(
    content_or_p7m: bytes,
    *,
    signer: signers.Signer,
    level: str = "B-B",
    timestamper: TimeStamper | None = None,
) -> bytes:
    """An enveloping .p7m (DER) of `content_or_p7m` signed by `signer`; if the
    input is already a .p7m, the same file with one more (parallel) signature."""
    if level not in LEVELS:
        raise ValueError(f"unknown CAdES level {level!r}: one of {', '.join(LEVELS)}")
    if level == "B-T" and timestamper is None:
        raise ValueError("CAdES B-T needs a timestamper")
    timestamper = timestamper if level == "B-T" else None

    existing = read_signed_data(content_or_p7m)
    try:
        if existing is None:
            content = content_or_p7m
            econtent_type = "data"
        else:
            content = encapsulated_content(existing)
            econtent_type = existing["encap_content_info"]["content_type"].native
            if econtent_type != "data":
                raise UnreadableDocument(f"the .p7m carries {econtent_type}, not a file")
        # Signed detached, enveloped below: the SignerInfo is the same either
        # way (it signs the content's digest), and the envelope is then written
        # around the content in one pass instead of asn1crypto copying it at
        # every nesting level (four times the document in memory).
        new = await signer.async_sign_general_data(
            content, DIGEST, detached=True, use_cades=True, timestamper=timestamper
        )
    except EngineError:
        raise
    except Exception as exc:  # TSA down or refusing, key unusable, ...
        raise SignatureFailed(f"the signature could not be completed: {exc}") from exc
    signed_data = new["content"]
    if existing is not None:
        signed_data = _cosigned(existing, signed_data)
    return _envelope(signed_data, content)


def _cosigned(existing: cms.SignedData, new: cms.SignedData) -> cms.SignedData:
    """The SignedData of both, without content: every SignerInfo, the
    certificates and digest algorithms of both, each once."""

    def unique(items):
        seen, result = set(), []
        for item in items:
            key = item.dump()
            if key not in seen:
                seen.add(key)
                result.append(item)
        return result

    fields = {
        "version": max(existing["version"].native, new["version"].native),
        "digest_algorithms": unique(
            list(existing["digest_algorithms"]) + list(new["digest_algorithms"])
        ),
        "encap_content_info": {"content_type": existing["encap_content_info"]["content_type"]},
        "certificates": unique(
            list(existing["certificates"] or []) + list(new["certificates"] or [])
        ),
        "signer_infos": list(existing["signer_infos"]) + list(new["signer_infos"]),
    }
    if _present(existing["crls"]):
        fields["crls"] = existing["crls"]
    return cms.SignedData(fields)


def _present(value: core.Asn1Value) -> bool:
    """Whether an optional field is there. Asking `.native` instead converts
    every certificate of the set to Python values: 1.9 ms a signature."""
    return not isinstance(value, core.Void)


def _header(tag: int, length: int) -> bytes:
    """A DER tag and definite length."""
    if length < 0x80:
        return bytes([tag, length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size


def _envelope(signed_data: cms.SignedData, content: bytes) -> bytes:
    """ContentInfo(SignedData) DER with `content` encapsulated, built around the
    content: SignedData's own fields come from asn1crypto, already encoded."""
    econtent_type = signed_data["encap_content_info"]["content_type"].dump()
    octets = _header(0x04, len(content))
    explicit = _header(0xA0, len(octets) + len(content))
    eci_body = len(econtent_type) + len(explicit) + len(octets) + len(content)
    eci = [_header(0x30, eci_body), econtent_type, explicit, octets]
    before = [signed_data["version"].dump(), signed_data["digest_algorithms"].dump()]
    after = [
        signed_data[name].dump() for name in ("certificates", "crls") if _present(signed_data[name])
    ] + [signed_data["signer_infos"].dump()]
    sd_body = sum(map(len, before)) + sum(map(len, eci)) + len(content) + sum(map(len, after))
    sd_header = _header(0x30, sd_body)
    content_type = cms.ContentType("signed_data").dump()
    wrapper = _header(0xA0, len(sd_header) + sd_body)
    total = len(content_type) + len(wrapper) + len(sd_header) + sd_body
    return b"".join(
        [_header(0x30, total), content_type, wrapper, sd_header, *before, *eci, content, *after]
    )


def sign_cades(
    content_or_p7m: bytes,
    *,
    signer: signers.Signer,
    level: str = "B-B",
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Synchronous `async_sign_cades`, safe to call from inside an event loop."""
    return run_sync(
        async_sign_cades(content_or_p7m, signer=signer, level=level, timestamper=timestamper)
    )
