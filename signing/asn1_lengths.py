"""Around asn1crypto reading some DER lengths as BER's indefinite form.

asn1crypto 1.5.1 (the latest release) takes a value for BER with an
indefinite length when the last byte of its header is 0x80. Every definite
length of 128, 384, 640... ends that way too (0x81 0x80, 0x82 0x01 0x80;
wbond/asn1crypto#249), and such a value is then encoded again from its parts
on every dump. pyHanko dumps a signature's signingCertificateV2 attribute
about twenty times, and for the portal's certificates that attribute is 128
bytes long: 1 to 2 ms a dump, a quarter of a signature's CPU, and much more
where a whole time-stamp token has such a length.

`install()` wraps each dump method that makes that check: a header whose
lengths are all definite is dropped before the dump, which builds it again
from the contents (the same DER bytes); a truly indefinite length is still
re-encoded as before. Wrapping, rather than patching the library's code,
leaves the library's own logic untouched.
"""

import functools

from asn1crypto import core

# The classes whose dump() holds the check (asn1crypto 1.5.1).
_CHECKING = (
    core.Asn1Value,
    core.Choice,
    core.Primitive,
    core.ParsableOctetString,
    core.Sequence,
    core.SequenceOf,
)


def has_indefinite_length(header: bytes) -> bool:
    """Whether any of the identifier-and-length headers in `header` (explicit
    tags put several one after the other) has the indefinite length form."""
    index = 0
    while index < len(header):
        if header[index] & 0x1F == 0x1F:  # a high tag number: more tag bytes follow
            index += 1
            while index < len(header) and header[index] & 0x80:
                index += 1
        index += 1
        if index >= len(header):
            return False
        length = header[index]
        if length == 0x80:
            return True
        index += 1 + (length & 0x7F if length & 0x80 else 0)
    return False


def _definite_lengths_kept(dump):
    @functools.wraps(dump)
    def wrapper(self, force=False):
        header = self._header
        if header is not None and header[-1:] == b"\x80" and not has_indefinite_length(header):
            self._header = None  # rebuilt by dump from the unchanged contents
        return dump(self, force)

    wrapper.keeps_definite_lengths = True
    return wrapper


def install() -> None:
    for cls in _CHECKING:
        dump = cls.__dict__["dump"]
        if not getattr(dump, "keeps_definite_lengths", False):
            cls.dump = _definite_lengths_kept(dump)
