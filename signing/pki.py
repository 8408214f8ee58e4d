"""The PKI's public face: what the rest of Sigillo imports from `signing.pki`.

The PKI is split by concern, and this module re-exports each part so that
callers keep one stable import path while the parts stay small:

- signing.profiles: certificate profiles, their OIDs and extensions, subjects;
- signing.ca: the certification authority, its directory and services;
- signing.revocation: revocation reasons, records and CRLs;
- signing.x509_signing: signing X.509 structures with a KeyHandle, through a
  throwaway key, so that keys on a PKCS#11 token work too.
"""

from signing.ca import RENEW_BEFORE, CertificateAuthority, Issued
from signing.profiles import (
    ANY_POLICY,
    BACKDATE,
    DEFAULT_VALIDITY,
    ISSUING_VALIDITY,
    OID_OCSP_NOCHECK,
    OID_QC_STATEMENTS,
    POLICY_ARC,
    POLICY_OIDS,
    QC_COMPLIANCE,
    QC_PDS,
    QC_SSCD,
    QC_SYNTAX_V2,
    QC_TYPE,
    QC_TYPE_ESIGN,
    QCP_N_QSCD,
    ROOT_VALIDITY,
    SEMANTICS_NATURAL_PERSON,
    Profile,
    Subject,
    qc_statements_natural_person,
)
from signing.revocation import RevocationReason, Revoked, parse_reason
from signing.x509_signing import signature_algorithm, throwaway_key

__all__ = [
    "ANY_POLICY",
    "BACKDATE",
    "DEFAULT_VALIDITY",
    "ISSUING_VALIDITY",
    "OID_OCSP_NOCHECK",
    "OID_QC_STATEMENTS",
    "POLICY_ARC",
    "POLICY_OIDS",
    "QCP_N_QSCD",
    "QC_COMPLIANCE",
    "QC_PDS",
    "QC_SSCD",
    "QC_SYNTAX_V2",
    "QC_TYPE",
    "QC_TYPE_ESIGN",
    "RENEW_BEFORE",
    "ROOT_VALIDITY",
    "SEMANTICS_NATURAL_PERSON",
    "CertificateAuthority",
    "Issued",
    "Profile",
    "RevocationReason",
    "Revoked",
    "Subject",
    "parse_reason",
    "qc_statements_natural_person",
    "signature_algorithm",
    "throwaway_key",
]
