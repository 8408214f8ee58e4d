"""The certificates our issuing CA has signed: the register that the CRL and the
OCSP responder answer from.

A row keeps the key *reference* (sealed under the KEK, or a PKCS#11 key id),
never a private key in clear.
"""

from django.db import models
from django.utils import timezone

from signing.pki import Profile, RevocationReason


class IssuedCertificate(models.Model):
    serial = models.CharField(max_length=64, unique=True)  # lowercase hex, no leading zeros
    profile = models.CharField(max_length=16, choices=[(p.value, p.value) for p in Profile])
    owner = models.CharField(max_length=200, db_index=True)
    common_name = models.CharField(max_length=200)
    der = models.BinaryField()
    key_reference = models.BinaryField()
    issued_at = models.DateTimeField(default=timezone.now)
    not_after = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revocation_reason = models.CharField(
        max_length=32, blank=True, choices=[(r.value, r.value) for r in RevocationReason]
    )

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"{self.profile} {self.common_name} ({self.serial})"

    @property
    def serial_number(self) -> int:
        return int(self.serial, 16)

    @property
    def certificate(self):
        from cryptography import x509

        return x509.load_der_x509_certificate(bytes(self.der))
