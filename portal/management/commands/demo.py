"""manage.py demo: the demo organization, its people and its robot, created if missing.

The first time, it also makes sample practices for the demo signer
(portal.demo_practices).

`make run` calls this at every start (unless DEMO=0), so it is idempotent:
what exists is kept, and the demo people's passwords are brought back to
DEMO_PASSWORD so the logins it prints always work. It prints those logins, the
robot's lifetime token and the organization's OAuth2 client. The client secret
is stored as a digest, so it is printed only when just created (or rotated
with --rotate-client-secret).
"""

import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.models import Organization, Role, User
from portal.demo_practices import demo_practices_create

SLUG = "demo"
NAME = "Demo"
# Documented in README.md; passes Django's password validators.
DEFAULT_PASSWORD = "Sigillo-Demo-2025"

PEOPLE = [
    # username, role, name, surname, phone
    ("admin", Role.ADMIN, "Alessandra", "Bianchi", ""),
    ("instructor", Role.INSTRUCTOR, "Ines", "Truzzi", ""),
    ("signer", Role.SIGNER, "Mario", "Rossi", "+393330000000"),
]
ROBOT = "robot"
ROBOT_APPLICATION = "Demo integration"


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD


class Command(BaseCommand):
    help = "Create the demo organization, its users and its robot if missing; print the logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate-client-secret",
            action="store_true",
            help="issue a new OAuth2 client secret for the demo organization and print it",
        )

    def handle(self, *args, rotate_client_secret=False, **options):
        password = demo_password()
        for username, *_ in PEOPLE:
            try:
                validate_password(
                    password, user=User(username=username, email=f"{username}@demo.example")
                )
            except ValidationError as exc:
                raise CommandError("DEMO_PASSWORD is too weak: " + " ".join(exc.messages)) from exc

        with transaction.atomic():
            organization, client_secret = self._organization(password)
            admin = self._person(organization, None, PEOPLE[0], password)
            people = [self._person(organization, admin, person, password) for person in PEOPLE[1:]]
            robot = self._robot(organization, admin)
            samples = demo_practices_create(
                organization=organization, admin=admin, signer=people[-1]
            )
            token = services.robot_token_get_or_issue(robot=robot)
            if rotate_client_secret and client_secret is None:
                client_secret = services.organization_rotate_client_secret(
                    organization=organization
                )

        self._print(organization, password, robot, token, client_secret)
        if samples:
            self.stdout.write(f"{samples} sample practices wait for {PEOPLE[-1][0]} in the inbox.")

    def _organization(self, password: str) -> tuple[Organization, str | None]:
        organization = Organization.objects.filter(slug=SLUG).first()
        if organization is not None:
            return organization, None
        admin_username, _, name, surname, _ = PEOPLE[0]
        created = services.organization_create(
            slug=SLUG,
            name=NAME,
            admin_username=admin_username,
            admin_password=password,
            admin_email=f"{admin_username}@demo.example",
        )
        services.user_update(user=created.admin, name=name, surname=surname)
        return created.organization, created.client_secret

    def _person(self, organization, actor, person, password: str) -> User:
        username, role, name, surname, phone = person
        user = User.objects.filter(organization=organization, username=username).first()
        if user is None:
            return services.user_create(
                actor=actor,
                organization=organization,
                username=username,
                role=role,
                password=password,
                email=f"{username}@demo.example",
                name=name,
                surname=surname,
                phone=phone,
            )
        if not user.automatic and not user.check_password(password):
            services.user_set_password(user=user, password=password)
        return user

    def _robot(self, organization, admin) -> User:
        robot = User.objects.filter(organization=organization, username=ROBOT).first()
        if robot is not None:
            return robot
        return services.user_create(
            actor=admin,
            organization=organization,
            username=ROBOT,
            automatic=True,
            email=f"{ROBOT}@demo.example",
            extra_data={"application": ROBOT_APPLICATION},
        )

    def _print(self, organization, password, robot, token, client_secret) -> None:
        out = self.stdout.write
        out(f"Demo organization: {organization.slug} ({organization.name})")
        out(f"  {'organization':<14}{'username':<12}{'password':<20}role")
        for username, role, *_ in PEOPLE:
            out(f"  {organization.slug:<14}{username:<12}{password:<20}{role}")
        out(f"  API logins are username@{organization.slug} (e.g. admin@{organization.slug}).")
        out(f"Robot {robot.username}@{organization.slug} lifetime token: {token}")
        if client_secret:
            out(f"OAuth2 client: client_id {organization.slug}, client_secret {client_secret}")
        else:
            out(
                f"OAuth2 client: client_id {organization.slug}, client_secret unchanged "
                "(stored as a digest, shown only when created; "
                "`python manage.py demo --rotate-client-secret` prints a new one)"
            )
