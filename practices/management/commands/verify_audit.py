"""manage.py verify_audit [--practice ID]: walk each practice's audit chain.

Exits 0 and says OK when every chain is whole; otherwise names the first
broken link of each broken practice and exits 1.
"""

import uuid

from django.core.management.base import BaseCommand, CommandError

from practices.audit import audit_verify
from practices.models import Practice


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail of every practice (or of one)."

    def add_arguments(self, parser):
        parser.add_argument("--practice", help="the id of one practice to verify")

    def handle(self, *args, practice=None, **options):
        practices = Practice.objects.order_by("created", "id")
        if practice:
            try:
                practices = practices.filter(pk=uuid.UUID(practice))
            except ValueError:
                raise CommandError(f"{practice!r} is not a practice id") from None
            if not practices.exists():
                raise CommandError(f"no practice {practice}")
        checked = 0
        broken = []
        for item in practices.iterator(chunk_size=500):
            checked += 1
            link = audit_verify(practice=item)
            if link is not None:
                broken.append(link)
                self.stderr.write(f"BROKEN {link}")
        if broken:
            raise CommandError(f"{len(broken)} of {checked} audit chain(s) broken", returncode=1)
        self.stdout.write(f"OK: {checked} audit chain(s) verified")
