"""manage.py createorg SLUG --name NAME --admin-username U --admin-password P [--admin-email E]

Prints one JSON object: {"slug", "client_id", "client_secret", "admin_id"}.
The client secret is shown only here (the database keeps its digest).
"""

import json
import re

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError

from accounts import services
from accounts.models import Organization, Role, User

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = Organization._meta.get_field("slug").max_length


def validate_slug(slug: str) -> None:
    if not SLUG_RE.fullmatch(slug) or len(slug) > SLUG_MAX:
        raise CommandError(
            f"invalid slug {slug!r}: use lowercase letters, digits and single hyphens "
            f"(not at the start or end), at most {SLUG_MAX} characters"
        )


class Command(BaseCommand):
    help = "Create an organization and its first admin; print its OAuth2 client as JSON."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the organization's domain and OAuth2 client id")
        parser.add_argument("--name", required=True, help="display name")
        parser.add_argument("--admin-username", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--admin-email", default="")

    def handle(self, *args, slug, name, admin_username, admin_password, admin_email, **options):
        validate_slug(slug)
        name = name.strip()
        if not name:
            raise CommandError("--name must not be empty")
        admin_username = admin_username.strip()
        if not admin_username or any(c.isspace() for c in admin_username):
            raise CommandError("--admin-username must be non-empty and contain no spaces")
        if admin_email:
            try:
                validate_email(admin_email)
            except ValidationError as exc:
                raise CommandError(f"invalid --admin-email {admin_email!r}") from exc
        try:
            validate_password(
                admin_password,
                user=User(username=admin_username, email=admin_email, role=Role.ADMIN),
            )
        except ValidationError as exc:
            raise CommandError("weak --admin-password: " + " ".join(exc.messages)) from exc

        try:
            created = services.organization_create(
                slug=slug,
                name=name,
                admin_username=admin_username,
                admin_password=admin_password,
                admin_email=admin_email,
            )
        except services.OrganizationExists as exc:
            raise CommandError(f"organization {slug!r} already exists") from exc
        except IntegrityError as exc:
            # Another createorg won the race for the same slug.
            if Organization.objects.filter(slug=slug).exists():
                raise CommandError(f"organization {slug!r} already exists") from exc
            raise

        self.stdout.write(
            json.dumps(
                {
                    "slug": created.organization.slug,
                    "client_id": created.organization.slug,
                    "client_secret": created.client_secret,
                    "admin_id": str(created.admin.id),
                }
            )
        )
