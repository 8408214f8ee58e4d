"""manage.py demo: the demo organization, created once, its logins printed every time."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import tokens
from accounts.models import Organization, Role, User
from portal.management.commands.demo import DEFAULT_PASSWORD


def run_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def printed_secret(output: str) -> str | None:
    match = re.search(r"client_secret (\S+)$", output, re.MULTILINE)
    return match.group(1) if match else None


def printed_token(output: str) -> str:
    return re.search(r"lifetime token: (\S+)", output).group(1)


@pytest.fixture(autouse=True)
def _default_password(monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)


@pytest.mark.django_db
def test_demo_creates_the_organization_its_people_and_its_robot():
    output = run_demo()

    organization = Organization.objects.get(slug="demo")
    assert organization.name == "Demo"
    people = {u.username: u for u in User.objects.filter(organization=organization)}
    assert set(people) == {"admin", "instructor", "signer", "robot"}
    roles = {"admin": Role.ADMIN, "instructor": Role.INSTRUCTOR, "signer": Role.SIGNER}
    for username, role in roles.items():
        user = people[username]
        assert user.role == role and not user.automatic and user.enabled
        assert user.email == f"{username}@demo.example"
        assert user.check_password(DEFAULT_PASSWORD)
    robot = people["robot"]
    assert robot.automatic
    assert robot.extra_data == {"application": "Demo integration"}
    assert not robot.has_usable_password()

    for username in ("admin", "instructor", "signer"):
        assert re.search(rf"demo\s+{username}\s+{re.escape(DEFAULT_PASSWORD)}", output)
    assert tokens.token_find(value=printed_token(output)).user == robot
    assert organization.client_secret_digest == tokens.digest(printed_secret(output))


@pytest.mark.django_db
def test_demo_twice_changes_nothing_and_does_not_show_the_secret_again():
    first = run_demo()
    digest = Organization.objects.get(slug="demo").client_secret_digest
    users = set(User.objects.values_list("id", flat=True))

    second = run_demo()

    assert Organization.objects.count() == 1
    assert set(User.objects.values_list("id", flat=True)) == users
    assert Organization.objects.get(slug="demo").client_secret_digest == digest
    assert printed_token(second) == printed_token(first)
    assert printed_secret(second) is None
    assert "client_secret unchanged" in second and "--rotate-client-secret" in second
    assert printed_secret(first) not in second


@pytest.mark.django_db
def test_demo_rotate_client_secret_prints_a_new_working_secret():
    first = printed_secret(run_demo())
    rotated = printed_secret(run_demo("--rotate-client-secret"))
    assert rotated and rotated != first
    assert Organization.objects.get(slug="demo").client_secret_digest == tokens.digest(rotated)


@pytest.mark.django_db
def test_demo_password_comes_from_the_environment_and_is_brought_back(monkeypatch):
    run_demo()
    monkeypatch.setenv("DEMO_PASSWORD", "Another-Demo-Pass-7")

    output = run_demo()

    assert "Another-Demo-Pass-7" in output and DEFAULT_PASSWORD not in output
    for username in ("admin", "instructor", "signer"):
        assert User.objects.get(username=username).check_password("Another-Demo-Pass-7")


@pytest.mark.django_db
def test_demo_refuses_a_weak_demo_password(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "123")
    with pytest.raises(CommandError, match="DEMO_PASSWORD is too weak"):
        run_demo()
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_demo_keeps_an_existing_demo_organization_made_elsewhere(org):
    # `org` is "acme"; a "demo" made by createorg with another admin is kept as it is.
    call_command(
        "createorg",
        "demo",
        "--name",
        "Our demo",
        "--admin-username",
        "admin",
        "--admin-password",
        "Correct-Horse-42",
        stdout=io.StringIO(),
    )
    output = run_demo()
    assert Organization.objects.get(slug="demo").name == "Our demo"
    assert "client_secret unchanged" in output
    assert User.objects.filter(organization__slug="demo").count() == 4
    assert User.objects.filter(organization__slug="acme").count() == 1


@pytest.mark.django_db
def test_the_demo_signer_finds_one_practice_of_each_kind_in_the_inbox():
    from practices import selectors

    output = run_demo()
    signer = User.objects.get(organization__slug="demo", username="signer")
    inbox = selectors.signer_inbox(user=signer)
    kinds = sorted(request.signature_type for request in inbox.to_sign)
    assert kinds == ["advanced", "click", "grapho", "spid"]
    assert "4 sample practices" in output
    # Made once: the next start finds them and adds none.
    run_demo()
    assert len(selectors.signer_inbox(user=signer).to_sign) == 4
