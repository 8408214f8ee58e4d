"""manage.py verify FILE: the validation report of a signed PDF or .p7m.

Trusts our own root, EXTRA_TRUST_ROOTS and any --trust file; checks our own
certificates against the CRLs we publish. Exit status 0 when every signature
is valid, 1 otherwise (also for an unsigned or unreadable file).
"""

import json
from pathlib import Path

from cryptography import x509
from django.core.management.base import BaseCommand, CommandError

from portal import trust
from signing.validate import validate


class Command(BaseCommand):
    help = "Validate the signatures of a PDF or .p7m file and print the report."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the report as JSON"
        )
        parser.add_argument(
            "--trust",
            dest="extra_roots",
            action="append",
            default=[],
            type=Path,
            metavar="PEM",
            help="also trust the root certificates in this PEM file (repeatable)",
        )
        parser.add_argument(
            "--fetch",
            action="store_true",
            help="fetch missing revocation data and certificates from the network",
        )

    def handle(self, *args, file: Path, as_json: bool, extra_roots: list[Path], fetch: bool, **kw):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from exc
        report = validate(
            data,
            trust_roots=trust.validation_roots() + _load_roots(extra_roots),
            other_certs=[trust.authority().issuing],
            crls=[trust.issuing_crl(), trust.root_crl()],
            allow_fetching=fetch,
            max_bytes=max(len(data), 1),  # a file on disk is the operator's own
        )
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(report.as_text())
        if not report.valid:
            raise SystemExit(1)


def _load_roots(paths: list[Path]) -> list[x509.Certificate]:
    roots = []
    for path in paths:
        try:
            roots.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read trusted roots from {path}: {exc}") from exc
    return roots
