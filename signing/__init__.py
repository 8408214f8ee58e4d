"""The signing engine: PKI, key storage, time-stamping, PAdES, CAdES, validation.

Framework-free by design: nothing here imports Django.
"""

from signing import asn1_lengths

# Before any signature is made: see signing.asn1_lengths.
asn1_lengths.install()
