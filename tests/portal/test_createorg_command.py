"""manage.py createorg, as CONTRACT §1 describes it: one JSON object, exit 1 on errors."""

import io
import json
import uuid

import pytest
from django.core.management import call_command, execute_from_command_line
from django.db import connections

from accounts import tokens
from accounts.models import Organization, Role, User

PASSWORD = "Correct-Horse-42"


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `manage.py createorg ...` as the command line does: (exit status, stdout, stderr)."""
    # The command line closes every connection when done; the test's
    # transaction must survive it.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    status = 0
    try:
        execute_from_command_line(["manage.py", "createorg", *args])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def createorg_args(slug="acme", password=PASSWORD, **extra):
    args = [slug, "--name", "Acme S.p.A.", "--admin-username", "boss", "--admin-password", password]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", value]
    return args


@pytest.mark.django_db
def test_createorg_prints_the_client_and_the_admin_as_one_json_object():
    out = io.StringIO()
    call_command(*["createorg", *createorg_args(admin_email="boss@acme.example")], stdout=out)

    printed = json.loads(out.getvalue())
    assert set(printed) == {"slug", "client_id", "client_secret", "admin_id"}
    assert printed["slug"] == printed["client_id"] == "acme"

    organization = Organization.objects.get(slug="acme")
    assert organization.name == "Acme S.p.A."
    assert organization.client_secret_digest == tokens.digest(printed["client_secret"])
    admin = User.objects.get(id=uuid.UUID(printed["admin_id"]))
    assert admin.organization == organization
    assert (admin.username, admin.role, admin.email) == ("boss", Role.ADMIN, "boss@acme.example")
    assert not admin.automatic
    assert admin.check_password(PASSWORD)


@pytest.mark.django_db
def test_createorg_exits_zero_with_only_json_on_stdout(monkeypatch, capsys):
    status, out, err = cli(monkeypatch, capsys, *createorg_args())
    assert status == 0, err
    assert json.loads(out)["slug"] == "acme"


@pytest.mark.django_db
def test_createorg_with_an_existing_slug_exits_1_with_a_message(monkeypatch, capsys):
    first, out, _ = cli(monkeypatch, capsys, *createorg_args())
    assert first == 0
    secret_digest = Organization.objects.get(slug="acme").client_secret_digest

    status, out, err = cli(monkeypatch, capsys, *createorg_args())

    assert status == 1
    assert out == ""
    assert "acme" in err and "already exists" in err
    assert Organization.objects.filter(slug="acme").count() == 1
    assert Organization.objects.get(slug="acme").client_secret_digest == secret_digest


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["Acme", "acme_co", "acme-", "ac--me", "ac me", "à", "a" * 64])
def test_createorg_refuses_a_bad_slug(monkeypatch, capsys, slug):
    status, out, err = cli(monkeypatch, capsys, *createorg_args(slug=slug))
    assert status == 1
    assert out == ""
    assert "invalid slug" in err and "lowercase letters, digits" in err
    assert not Organization.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "qwertyuiop"])
def test_createorg_refuses_a_weak_password(monkeypatch, capsys, password):
    status, out, err = cli(monkeypatch, capsys, *createorg_args(password=password))
    assert status == 1
    assert out == ""
    assert "weak --admin-password" in err
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_createorg_refuses_a_bad_email(monkeypatch, capsys):
    status, _, err = cli(monkeypatch, capsys, *createorg_args(admin_email="not-an-email"))
    assert status == 1
    assert "invalid --admin-email" in err
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_createorg_accepts_digits_and_single_hyphens(monkeypatch, capsys):
    status, out, err = cli(monkeypatch, capsys, *createorg_args(slug="studio-42-legal"))
    assert status == 0, err
    assert json.loads(out)["client_id"] == "studio-42-legal"
