"""The account pages: login, password recovery, the Users section and Manage Token."""

import base64
import re
import uuid

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import services, tokens
from accounts.models import RobotConfiguration, Role, User
from tests.accounts.test_robots_api import client_certificate
from tests.conftest import PASSWORD

NEW_PASSWORD = "Brand-New-Secret-77"


def anon() -> Client:
    """A browser that prefers English (the default language is Italian)."""
    return Client(headers={"Accept-Language": "en"})


def login(client: Client, user: User, password: str = PASSWORD):
    return client.post(
        reverse("accounts-login"),
        {
            "organization": user.organization.slug,
            "username": user.username,
            "password": password,
        },
    )


def logged_in(user: User, language: str = "en") -> Client:
    if user.language != language:
        services.user_update(user=user, language=language)
    client = Client()
    client.force_login(user)
    return client


def session_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def html(response) -> str:
    return response.content.decode()


def make_signer(org, username: str, **fields) -> User:
    defaults = {"name": "Anna", "surname": "Bianchi", "email": f"{username}@acme.example"}
    return services.user_create(
        actor=org.admin,
        organization=org.organization,
        username=username,
        role=Role.SIGNER,
        password=PASSWORD,
        **{**defaults, **fields},
    )


def url(name: str, user: User | None = None) -> str:
    return reverse(name, kwargs={"user_id": user.pk}) if user else reverse(name)


# Login and logout


@pytest.mark.django_db
def test_login_with_organization_username_and_password_opens_the_users_list(admin):
    client = anon()
    response = login(client, admin)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-user-list")
    assert session_user_id(client) == str(admin.pk)


@pytest.mark.django_db
def test_wrong_password_unknown_user_and_unknown_organization_get_the_same_error(admin):
    answers = []
    for data in (
        {"organization": "acme", "username": "boss", "password": "wrong"},
        {"organization": "acme", "username": "nobody", "password": PASSWORD},
        {"organization": "nowhere", "username": "boss", "password": PASSWORD},
    ):
        client = anon()
        response = client.post(reverse("accounts-login"), data)
        assert response.status_code == 200
        assert session_user_id(client) is None
        answers.append(re.search(r'role="alert">(.*?)</div>', html(response), re.S).group(1))
    assert len(set(answers)) == 1
    assert "not correct" in answers[0]


@pytest.mark.django_db
def test_a_robot_cannot_log_in_even_with_a_password_set(robot):
    robot.set_password(PASSWORD)
    robot.save()
    client = anon()
    response = login(client, robot)
    assert response.status_code == 200
    assert session_user_id(client) is None


@pytest.mark.django_db
def test_a_disabled_user_cannot_log_in(signer):
    services.user_set_enabled(user=signer, enabled=False)
    client = anon()
    assert login(client, signer).status_code == 200
    assert session_user_id(client) is None


@pytest.mark.django_db
def test_credentials_only_open_their_own_organization(admin, other_org):
    client = anon()
    response = client.post(
        reverse("accounts-login"),
        {"organization": other_org.organization.slug, "username": "boss", "password": PASSWORD},
    )
    assert response.status_code == 200
    assert session_user_id(client) is None
    assert login(client, other_org.admin).status_code == 302
    assert session_user_id(client) == str(other_org.admin.pk)


@pytest.mark.django_db
def test_login_follows_a_local_next_but_not_an_external_one(admin):
    client = anon()
    target = url("accounts-user-create")
    response = client.post(
        reverse("accounts-login") + f"?next={target}",
        {"organization": "acme", "username": "boss", "password": PASSWORD},
    )
    assert response["Location"] == target
    client = anon()
    response = client.post(
        reverse("accounts-login") + "?next=https://evil.example/",
        {"organization": "acme", "username": "boss", "password": PASSWORD},
    )
    assert response["Location"] == reverse("accounts-user-list")


@pytest.mark.django_db
def test_repeated_failed_logins_are_throttled(admin, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "token": (3, 60)}
    client = anon()
    for _ in range(3):
        login(client, admin, "wrong")
    response = login(client, admin)
    assert "Too many attempts" in html(response)
    assert session_user_id(client) is None


@pytest.mark.django_db
def test_logout_needs_a_post_and_ends_the_session(admin):
    client = logged_in(admin)
    assert client.get(reverse("accounts-logout")).status_code == 405
    response = client.post(reverse("accounts-logout"))
    assert response["Location"] == reverse("accounts-login")
    assert session_user_id(client) is None
    assert client.get(url("accounts-user-list"))["Location"].startswith(reverse("accounts-login"))


@pytest.mark.django_db
def test_the_home_page_sends_people_to_login_or_to_the_users_list(admin):
    assert anon().get("/")["Location"] == reverse("accounts-login")
    assert logged_in(admin).get("/")["Location"] == reverse("accounts-user-list")


@pytest.mark.django_db
def test_a_signer_has_nothing_to_manage_and_no_users_section(signer, admin):
    client = logged_in(signer)
    response = client.get("/")
    assert response.status_code == 200
    assert "nothing for you to manage" in html(response)
    assert url("accounts-user-list") not in html(response)
    assert client.get(url("accounts-user-list"))["Location"] == reverse("accounts-home")
    assert client.get(url("accounts-user-create")).status_code == 404
    assert client.get(url("accounts-user-detail", admin)).status_code == 404
    assert client.get(url("accounts-user-detail", signer)).status_code == 404


# Users list


@pytest.mark.django_db
def test_the_admin_list_shows_everyone_of_the_organization_only(
    admin, instructor, signer, robot, other_org
):
    response = logged_in(admin).get(url("accounts-user-list"))
    page = html(response)
    for user in (admin, instructor, signer, robot):
        assert reverse("accounts-user-detail", kwargs={"user_id": user.pk}) in page
    assert "rivalboss" not in page
    assert "Add User" in page


@pytest.mark.django_db
def test_the_list_shows_who_is_disabled(admin, signer):
    services.user_set_enabled(user=signer, enabled=False)
    page = html(logged_in(admin).get(url("accounts-user-list")))
    row = re.search(r"<tr>\s*<th scope=\"row\"><a[^>]*>mrossi</a>.*?</tr>", page, re.S).group(0)
    assert "Disabled" in row


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["mros", "MARIO", "rossi", "mrossi@acme"])
def test_search_matches_username_name_surname_and_email(admin, signer, instructor, query):
    response = logged_in(admin).get(url("accounts-user-list"), {"q": query})
    page = html(response)
    assert ">mrossi</a>" in page
    assert ">teacher</a>" not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("robot", "erp", "mrossi"),
        ("signer", "mrossi", "erp"),
        ("instructor", "teacher", "erp"),
        ("admin", "boss", "teacher"),
    ],
)
def test_the_role_filter_separates_robots_from_people(
    admin, instructor, signer, robot, role, shown, hidden
):
    page = html(logged_in(admin).get(url("accounts-user-list"), {"role": role}))
    assert f">{shown}</a>" in page
    assert f">{hidden}</a>" not in page


@pytest.mark.django_db
def test_the_list_is_paginated_and_keeps_the_search(org, admin):
    for i in range(25):
        make_signer(org, f"user{i:02d}")
    client = logged_in(admin)
    first = html(client.get(url("accounts-user-list"), {"q": "user"}))
    assert ">user00</a>" in first and ">user19</a>" in first
    assert ">user20</a>" not in first
    assert "Page 1 of 2" in first
    assert "?q=user&amp;page=2" in first
    second = html(client.get(url("accounts-user-list"), {"q": "user", "page": 2}))
    assert ">user20</a>" in second and ">user24</a>" in second
    assert ">user00</a>" not in second


@pytest.mark.django_db
def test_htmx_search_answers_only_the_results_fragment(admin, signer):
    response = logged_in(admin).get(
        url("accounts-user-list"), {"q": "mrossi"}, headers={"HX-Request": "true"}
    )
    page = html(response)
    assert page.lstrip().startswith('<section id="user-results"')
    assert "<html" not in page
    assert ">mrossi</a>" in page
    assert "HX-Request" in response["Vary"]


# Add User


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.INSTRUCTOR, Role.SIGNER])
def test_an_admin_creates_people_of_every_role_who_can_then_log_in(admin, role):
    client = logged_in(admin)
    response = client.post(
        url("accounts-user-create"),
        {
            "account_type": role,
            "username": "newbie",
            "name": "Nina",
            "surname": "Verdi",
            "email": "nina@acme.example",
            "phone": "+39 333 1234567",
            "language": "en",
            "password": NEW_PASSWORD,
        },
    )
    user = User.objects.get(organization=admin.organization, username="newbie")
    assert response["Location"] == url("accounts-user-detail", user)
    assert (user.role, user.automatic, user.name, user.surname, user.email, user.phone) == (
        role,
        False,
        "Nina",
        "Verdi",
        "nina@acme.example",
        "+39 333 1234567",
    )
    assert user.language == "en"
    assert user.created_by == admin
    assert mail.outbox == []
    assert login(anon(), user, NEW_PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_person_created_without_password_is_emailed_a_link(
    admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(admin).post(
            url("accounts-user-create"),
            {
                "account_type": "signer",
                "username": "linky",
                "name": "Lina",
                "surname": "Neri",
                "email": "lina@acme.example",
                "language": "it",
            },
        )
    user = User.objects.get(username="linky")
    assert not user.has_usable_password()
    assert [m.to for m in mail.outbox] == [["lina@acme.example"]]
    assert "/reset/" in mail.outbox[0].body


@pytest.mark.django_db
def test_an_admin_creates_a_robot_with_only_a_username_and_an_application(admin):
    response = logged_in(admin).post(
        url("accounts-user-create"),
        {"account_type": "robot", "username": "gestionale", "application": "Gestionale"},
    )
    robot = User.objects.get(username="gestionale")
    assert response["Location"] == url("accounts-user-detail", robot)
    assert robot.automatic is True
    assert robot.extra_data == {"application": "Gestionale"}
    assert not robot.has_usable_password()
    config = RobotConfiguration.objects.get(robot=robot)
    assert config.webhook_url == ""
    assert services.robot_configuration_read(robot=robot)["webhooks"]["secret"].startswith("whsec_")


@pytest.mark.django_db
def test_add_user_offers_the_account_type_first_with_robot_for_admins(admin):
    page = html(logged_in(admin).get(url("accounts-user-create")))
    form = page[page.index("<form") :]
    assert form.index('name="account_type"') < form.index('name="username"')
    options = re.findall(r'<option value="(\w+)"', form[: form.index("</select>")])
    assert options == ["admin", "instructor", "signer", "robot"]


@pytest.mark.django_db
def test_add_user_explains_what_is_missing(admin, signer):
    client = logged_in(admin)
    response = client.post(
        url("accounts-user-create"),
        {"account_type": "signer", "username": "mrossi", "email": "not-an-email", "language": "it"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"username", "name", "surname", "email"}
    response = client.post(
        url("accounts-user-create"), {"account_type": "robot", "username": "bot", "language": "it"}
    )
    assert set(response.context["form"].errors) == {"application"}
    response = client.post(
        url("accounts-user-create"),
        {
            "account_type": "signer",
            "username": "weak",
            "name": "W",
            "surname": "K",
            "email": "w@acme.example",
            "language": "it",
            "password": "123",
        },
    )
    assert set(response.context["form"].errors) == {"password"}
    response = client.post(
        url("accounts-user-create"),
        {"account_type": "robot", "username": "bot@acme", "application": "x"},
    )
    assert set(response.context["form"].errors) == {"username"}
    assert not User.objects.filter(username__in=["bot", "weak", "bot@acme"]).exists()


# Instructors


@pytest.mark.django_db
def test_an_instructor_sees_and_creates_only_signers(instructor, admin, signer, robot):
    client = logged_in(instructor)
    page = html(client.get(url("accounts-user-list")))
    assert ">mrossi</a>" in page
    for other in ("boss", "teacher", "erp"):
        assert f">{other}</a>" not in page
    form = html(client.get(url("accounts-user-create")))
    assert re.findall(r'<option value="(\w+)"', form[: form.index("</select>")]) == ["signer"]
    for account_type in ("admin", "instructor", "robot"):
        response = client.post(
            url("accounts-user-create"),
            {
                "account_type": account_type,
                "username": f"sneaky-{account_type}",
                "application": "x",
                "name": "S",
                "surname": "N",
                "email": "s@acme.example",
                "language": "it",
                "password": NEW_PASSWORD,
            },
        )
        assert "account_type" in response.context["form"].errors
    assert not User.objects.filter(username__startswith="sneaky").exists()
    client.post(
        url("accounts-user-create"),
        {
            "account_type": "signer",
            "username": "pupil",
            "name": "P",
            "surname": "U",
            "email": "p@acme.example",
            "language": "it",
        },
    )
    assert User.objects.get(username="pupil").role == Role.SIGNER


@pytest.mark.django_db
def test_an_instructor_gets_404_on_admins_instructors_and_robots(instructor, admin, robot):
    client = logged_in(instructor)
    for target in (admin, instructor, robot):
        for name in ("accounts-user-detail", "accounts-user-edit", "accounts-user-set-enabled"):
            assert client.get(url(name, target)).status_code == 404, (name, target.username)
    assert client.get(url("accounts-robot-token", robot)).status_code == 404
    assert client.post(url("accounts-robot-token-regenerate", robot)).status_code == 404
    assert (
        client.post(url("accounts-user-set-enabled", admin), {"enabled": "false"}).status_code
        == 404
    )
    admin.refresh_from_db()
    assert admin.enabled


@pytest.mark.django_db
def test_an_instructor_edits_a_signer_but_cannot_disable_them(instructor, signer):
    client = logged_in(instructor)
    response = client.post(
        url("accounts-user-edit", signer),
        {
            "username": "mrossi",
            "name": "Mario",
            "surname": "Rossini",
            "email": "mrossi@acme.example",
            "language": "it",
        },
    )
    assert response.status_code == 302
    signer.refresh_from_db()
    assert signer.surname == "Rossini"
    page = html(client.get(url("accounts-user-detail", signer)))
    assert url("accounts-user-set-enabled", signer) not in page
    assert (
        client.post(url("accounts-user-set-enabled", signer), {"enabled": "false"}).status_code
        == 404
    )


@pytest.mark.django_db
def test_nothing_of_another_organization_is_reachable(admin, other_org):
    rival = other_org.admin
    client = logged_in(admin)
    for name in ("accounts-user-detail", "accounts-user-edit", "accounts-user-set-enabled"):
        assert client.get(url(name, rival)).status_code == 404
    assert (
        client.get(reverse("accounts-user-detail", kwargs={"user_id": uuid.uuid4()})).status_code
        == 404
    )


# User page, Edit, Disable/Enable


@pytest.mark.django_db
def test_the_user_page_shows_contact_data_and_the_actions_menu(admin, signer):
    page = html(logged_in(admin).get(url("accounts-user-detail", signer)))
    assert "Contact Data" in page
    assert "mrossi@acme.example" in page
    menu = page[
        page.index('class="dropdown"') : page.index("</details>", page.index('class="dropdown"'))
    ]
    assert url("accounts-user-edit", signer) in menu
    assert "Disable" in menu
    assert "Manage Token" not in menu


@pytest.mark.django_db
def test_a_robot_page_offers_manage_token(admin, robot):
    page = html(logged_in(admin).get(url("accounts-user-detail", robot)))
    assert "ERP connector" in page
    assert url("accounts-robot-token", robot) in page
    assert f'hx-get="{url("accounts-robot-token", robot)}"' in page


@pytest.mark.django_db
def test_edit_changes_a_person_and_can_set_a_new_password(admin, signer):
    client = logged_in(admin)
    form = html(client.get(url("accounts-user-edit", signer)))
    assert 'name="account_type"' not in form
    assert 'value="Mario"' in form
    response = client.post(
        url("accounts-user-edit", signer),
        {
            "username": "mario.rossi",
            "name": "Mario",
            "surname": "Rossi",
            "email": "mario@acme.example",
            "phone": "+39 06 123456",
            "language": "en",
            "password": NEW_PASSWORD,
        },
    )
    assert response["Location"] == url("accounts-user-detail", signer)
    signer.refresh_from_db()
    assert (signer.username, signer.email, signer.phone, signer.language) == (
        "mario.rossi",
        "mario@acme.example",
        "+39 06 123456",
        "en",
    )
    assert signer.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_edit_without_password_keeps_it_and_refuses_a_taken_username(admin, signer, instructor):
    client = logged_in(admin)
    data = {
        "username": "teacher",
        "name": "Mario",
        "surname": "Rossi",
        "email": "mrossi@acme.example",
        "language": "it",
    }
    response = client.post(url("accounts-user-edit", signer), data)
    assert "username" in response.context["form"].errors
    client.post(url("accounts-user-edit", signer), {**data, "username": "mrossi", "name": "Marco"})
    signer.refresh_from_db()
    assert signer.name == "Marco"
    assert signer.check_password(PASSWORD)


@pytest.mark.django_db
def test_editing_a_robot_asks_only_username_and_application(admin, robot):
    client = logged_in(admin)
    form = html(client.get(url("accounts-user-edit", robot)))
    assert 'name="application"' in form
    assert 'name="email"' not in form and 'name="password"' not in form
    client.post(url("accounts-user-edit", robot), {"username": "erp", "application": "SAP"})
    robot.refresh_from_db()
    assert robot.extra_data["application"] == "SAP"
    assert robot.automatic


@pytest.mark.django_db
def test_disable_asks_for_confirmation_then_blocks_login_and_enable_restores_it(admin, signer):
    client = logged_in(admin)
    confirm = client.get(url("accounts-user-set-enabled", signer))
    assert "Disable mrossi?" in html(confirm)
    signer.refresh_from_db()
    assert signer.enabled
    fragment = client.get(url("accounts-user-set-enabled", signer), headers={"HX-Request": "true"})
    assert "<html" not in html(fragment) and 'id="modal-title"' in html(fragment)

    response = client.post(url("accounts-user-set-enabled", signer), {"enabled": "false"})
    assert response["Location"] == url("accounts-user-detail", signer)
    signer.refresh_from_db()
    assert not signer.enabled and signer.deleted_at is not None
    assert login(anon(), signer).status_code == 200

    assert "Enable mrossi?" in html(client.get(url("accounts-user-set-enabled", signer)))
    client.post(url("accounts-user-set-enabled", signer), {"enabled": "true"})
    signer.refresh_from_db()
    assert signer.enabled and signer.deleted_at is None
    assert login(anon(), signer).status_code == 302


@pytest.mark.django_db
def test_disabling_ends_the_open_sessions_of_that_user(admin, signer):
    signer_client = logged_in(signer)
    assert signer_client.get("/").status_code == 200
    logged_in(admin).post(url("accounts-user-set-enabled", signer), {"enabled": "false"})
    assert signer_client.get("/")["Location"] == reverse("accounts-login")


@pytest.mark.django_db
def test_an_admin_cannot_disable_themselves(admin):
    client = logged_in(admin)
    client.post(url("accounts-user-set-enabled", admin), {"enabled": "false"})
    admin.refresh_from_db()
    assert admin.enabled


@pytest.mark.django_db
def test_enable_disable_needs_get_or_post_and_a_login(admin, signer):
    assert anon().post(url("accounts-user-set-enabled", signer)).status_code == 302
    assert logged_in(admin).put(url("accounts-user-set-enabled", signer)).status_code == 405


# Manage Token


@pytest.mark.django_db
def test_manage_token_shows_the_token_the_api_accepts(admin, robot):
    response = logged_in(admin).get(
        url("accounts-robot-token", robot), headers={"HX-Request": "true"}
    )
    page = html(response)
    assert "<html" not in page
    shown = re.search(r'id="robot-token"[^>]*value="([^"]+)"', page).group(1)
    assert shown == services.robot_token_get_or_issue(robot=robot)
    found = tokens.token_find(value=shown)
    assert found is not None and found.user == robot
    secret = services.robot_configuration_read(robot=robot)["webhooks"]["secret"]
    assert f'value="{secret}"' in page
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_opening_manage_token_twice_shows_the_same_token(admin, robot):
    client = logged_in(admin)
    first = re.search(
        r'id="robot-token"[^>]*value="([^"]+)"',
        html(client.get(url("accounts-robot-token", robot))),
    ).group(1)
    second = re.search(
        r'id="robot-token"[^>]*value="([^"]+)"',
        html(client.get(url("accounts-robot-token", robot))),
    ).group(1)
    assert first == second


@pytest.mark.django_db
def test_regenerate_issues_a_new_token_and_the_old_one_stops_working(admin, robot):
    old = services.robot_token_get_or_issue(robot=robot)
    response = logged_in(admin).post(
        url("accounts-robot-token-regenerate", robot), headers={"HX-Request": "true"}
    )
    page = html(response)
    assert page.lstrip().startswith('<section id="token-panel"')
    new = re.search(r'id="robot-token"[^>]*value="([^"]+)"', page).group(1)
    assert new != old
    assert tokens.token_find(value=old) is None
    assert tokens.token_find(value=new).user == robot
    assert services.robot_token_get_or_issue(robot=robot) == new


@pytest.mark.django_db
def test_revoke_kills_the_token_and_the_next_opening_issues_another(admin, robot):
    old = services.robot_token_get_or_issue(robot=robot)
    client = logged_in(admin)
    page = html(
        client.post(url("accounts-robot-token-revoke", robot), headers={"HX-Request": "true"})
    )
    assert 'id="robot-token"' not in page
    assert "Issue a new token" in page
    assert tokens.token_find(value=old) is None
    # Without htmx, revoking goes back to the user page (Manage Token would issue one at once).
    services.robot_token_get_or_issue(robot=robot)
    response = client.post(url("accounts-robot-token-revoke", robot))
    assert response["Location"] == url("accounts-user-detail", robot)
    assert tokens.lifetime_token_current(robot=robot) is None
    reopened = html(client.get(url("accounts-robot-token", robot)))
    value = re.search(r'id="robot-token"[^>]*value="([^"]+)"', reopened).group(1)
    assert tokens.token_find(value=value).user == robot


@pytest.mark.django_db
def test_token_actions_need_a_post(admin, robot):
    client = logged_in(admin)
    assert client.get(url("accounts-robot-token-regenerate", robot)).status_code == 405
    assert client.get(url("accounts-robot-token-revoke", robot)).status_code == 405


@pytest.mark.django_db
def test_manage_token_is_for_robots_only(admin, signer):
    client = logged_in(admin)
    assert client.get(url("accounts-robot-token", signer)).status_code == 404
    assert client.post(url("accounts-robot-token-regenerate", signer)).status_code == 404


def make_certificate() -> tuple[str, str, str]:
    """A client certificate, its key and an unrelated key, all PEM."""
    cert, key = client_certificate()
    _, other = client_certificate()
    return cert, key, other


def config_of(robot: User) -> dict:
    """The stored configuration, read afresh (the fixture's instance caches it)."""
    return services.robot_configuration_read(robot=User.objects.get(pk=robot.pk))


def config_data(**overrides) -> dict:
    data = {
        "webhook_url": "https://erp.example/hooks/sigillo",
        "header_name": ["X-Api-Key", "Accept", "X-Api-Key", ""],
        "header_value": ["k1", "application/pdf", "k2", ""],
        "auth_mode": "basic",
        "auth_username": "jdo",
        "auth_password": "A12345678z",
        "client_cert": "",
        "client_key": "",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_saving_the_robot_configuration_stores_webhook_headers_and_authentication(admin, robot):
    cert, key, _ = make_certificate()
    secret_before = services.robot_configuration_read(robot=robot)["webhooks"]["secret"]
    response = logged_in(admin).post(
        url("accounts-robot-token", robot),
        config_data(client_cert=cert, client_key=key),
        headers={"HX-Request": "true"},
    )
    page = html(response)
    assert page.lstrip().startswith('<form id="robot-config"')
    assert "Robot configuration saved." in page
    config = config_of(robot)
    assert config["webhooks"] == {
        "dst": "https://erp.example/hooks/sigillo",
        "secret": secret_before,
    }
    assert config["requestHeaders"] == {"X-Api-Key": ["k1", "k2"], "Accept": ["application/pdf"]}
    auth = config["authentication"]
    assert (auth["authMode"], auth["username"], auth["password"]) == ("basic", "jdo", "A12345678z")
    assert auth["clientCert"].strip() == cert.strip()
    assert auth["clientKey"].strip() == key.strip()
    # Secrets are not sent back to the page.
    assert "A12345678z" not in page
    assert "PRIVATE KEY" not in page


@pytest.mark.django_db
def test_saving_again_with_empty_secret_fields_keeps_the_stored_password_and_key(admin, robot):
    cert, key, _ = make_certificate()
    client = logged_in(admin)
    client.post(url("accounts-robot-token", robot), config_data(client_cert=cert, client_key=key))
    response = client.post(
        url("accounts-robot-token", robot),
        config_data(
            auth_password="", client_cert=cert, client_key="", webhook_url="http://127.0.0.1:9/hook"
        ),
    )
    assert response["Location"] == url("accounts-robot-token", robot)
    config = config_of(robot)
    assert config["authentication"]["password"] == "A12345678z"
    assert config["authentication"]["clientKey"].strip() == key.strip()
    assert config["webhooks"]["dst"] == "http://127.0.0.1:9/hook"
    # No authentication mode and no certificate: nothing is kept.
    client.post(
        url("accounts-robot-token", robot),
        config_data(
            auth_mode="", auth_username="", auth_password="", header_name=[], header_value=[]
        ),
    )
    config = config_of(robot)
    assert config["authentication"] == {}
    assert config["requestHeaders"] == {}


@pytest.mark.django_db
def test_a_configuration_written_through_the_api_opens_and_saves_unchanged(admin, robot):
    cert, key, _ = make_certificate()
    services.robot_configuration_update(
        robot=robot,
        request_headers={"Authorization": ["Token abc"]},
        # What PUT /api/robot/configuration stores for a client certificate
        # sent as base64, with no basic/digest user.
        authentication={
            "username": "",
            "password": "",
            "authMode": "basic",
            "clientKey": base64.b64encode(key.encode()).decode(),
            "clientCert": base64.b64encode(cert.encode()).decode(),
        },
        webhook_url="https://erp.example/hook",
    )
    client = logged_in(admin)
    page = html(client.get(url("accounts-robot-token", robot)))
    assert re.search(r'<option value="" selected>None</option>', page)
    assert "-----BEGIN CERTIFICATE-----" in page
    assert 'value="Authorization"' in page and 'value="Token abc"' in page
    response = client.post(
        url("accounts-robot-token", robot),
        {
            "webhook_url": "https://erp.example/hook",
            "header_name": ["Authorization", ""],
            "header_value": ["Token abc", ""],
            "auth_mode": "",
            "auth_username": "",
            "auth_password": "",
            "client_cert": cert,
            "client_key": "",
        },
    )
    assert response["Location"] == url("accounts-robot-token", robot)
    config = config_of(robot)
    assert config["requestHeaders"] == {"Authorization": ["Token abc"]}
    assert config["authentication"]["clientKey"].strip() == key.strip()
    assert config["authentication"]["clientCert"].strip() == cert.strip()
    assert config["authentication"]["username"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"webhook_url": "ftp://erp.example/x"}, "webhook_url", "https:// URL"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url", "valid URL"),
        ({"header_name": ["X Api"], "header_value": ["v"]}, "__all__", "not a valid header name"),
        ({"header_name": ["X-Api:"], "header_value": ["v"]}, "__all__", "not a valid header name"),
        (
            {"header_name": ["X-Api"], "header_value": ["a\r\nX-Evil: 1"]},
            "__all__",
            "must be one line",
        ),
        ({"header_name": [""], "header_value": ["orphan"]}, "__all__", "needs a header name"),
        ({"auth_username": ""}, "auth_username", "need a username"),
        ({"auth_password": ""}, "auth_password", "need a password"),
        (
            {"client_cert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"},
            "client_cert",
            "not a PEM certificate",
        ),
        ({"client_key": "garbage"}, "client_cert", "needs its certificate"),
    ],
)
def test_invalid_robot_configuration_is_refused_with_a_reason(
    admin, robot, overrides, field, message
):
    response = logged_in(admin).post(
        url("accounts-robot-token", robot), config_data(**overrides), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "not saved" in html(response)
    assert message in html(response)
    form = response.context["form"]
    assert field in form.errors
    assert config_of(robot)["webhooks"]["dst"] == ""


@pytest.mark.django_db
def test_a_key_that_does_not_match_the_certificate_or_does_not_parse_is_refused(admin, robot):
    cert, _key, other = make_certificate()
    client = logged_in(admin)
    for key, message in (
        (other, "does not belong"),
        ("-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----", "not a PEM private key"),
    ):
        response = client.post(
            url("accounts-robot-token", robot), config_data(client_cert=cert, client_key=key)
        )
        assert message in html(response)
        assert "client_key" in response.context["form"].errors
    response = client.post(url("accounts-robot-token", robot), config_data(client_cert=cert))
    assert "needs its private key" in html(response)


# Password lost and reset


@pytest.mark.django_db
def test_password_lost_emails_a_link_with_a_neutral_answer(signer, robot):
    client = anon()
    answers = []
    for organization, username in (
        ("acme", "mrossi"),
        ("acme", "ghost"),
        ("acme", "erp"),
        ("nowhere", "mrossi"),
    ):
        response = client.post(
            reverse("accounts-password-lost"),
            {"organization": organization, "username": username},
            follow=True,
        )
        answers.append(
            re.search(r'class="alert alert-success"[^>]*>(.*?)</div>', html(response), re.S).group(
                1
            )
        )
    assert len(set(answers)) == 1
    assert [m.to for m in mail.outbox] == [["mrossi@acme.example"]]
    assert re.search(r"http://\S+/reset/\S+/\S+/", mail.outbox[0].body)


@pytest.mark.django_db
def test_a_disabled_user_is_not_sent_a_link(signer):
    services.user_set_enabled(user=signer, enabled=False)
    anon().post(reverse("accounts-password-lost"), {"organization": "acme", "username": "mrossi"})
    assert mail.outbox == []


@pytest.mark.django_db
def test_password_lost_is_rate_limited_per_account(signer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password": (2, 300)}
    for _ in range(4):
        anon().post(
            reverse("accounts-password-lost"), {"organization": "acme", "username": "mrossi"}
        )
    assert len(mail.outbox) == 2


def reset_path_for(user: User) -> str:
    services.password_reset_send(user=user)
    link = re.search(r"http://\S+(/reset/\S+/\S+/)", mail.outbox[-1].body).group(1)
    return link


@pytest.mark.django_db
def test_the_reset_link_sets_a_new_password_once(signer):
    path = reset_path_for(signer)
    client = anon()
    assert 'name="new_password1"' in html(client.get(path))
    response = client.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("accounts-login") + "?organization=acme&username=mrossi"
    signer.refresh_from_db()
    assert signer.check_password(NEW_PASSWORD)
    assert login(anon(), signer, NEW_PASSWORD).status_code == 302
    again = client.get(path)
    assert "This link no longer works" in html(again)
    client.post(path, {"new_password1": "Another-Secret-99", "new_password2": "Another-Secret-99"})
    signer.refresh_from_db()
    assert signer.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_the_reset_page_applies_the_password_validators(signer):
    path = reset_path_for(signer)
    client = anon()
    response = client.post(
        path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"}
    )
    assert "do not match" in html(response)
    response = client.post(path, {"new_password1": "password", "new_password2": "password"})
    assert "too common" in html(response)
    response = client.post(path, {"new_password1": "mrossi12", "new_password2": "mrossi12"})
    assert response.status_code == 200
    signer.refresh_from_db()
    assert signer.check_password(PASSWORD)


@pytest.mark.django_db
def test_a_forged_reset_link_is_refused(signer):
    page = html(
        anon().get(
            reverse(
                "accounts-password-reset-confirm", kwargs={"uidb64": "bm9wZQ", "token": "abc-def"}
            )
        )
    )
    assert "This link no longer works" in page
    path = reset_path_for(signer)
    forged = path.rsplit("/", 2)[0] + "/xyz-123/"
    assert "This link no longer works" in html(anon().get(forged))


# Languages


@pytest.mark.django_db
def test_pages_speak_the_language_of_the_logged_in_user(admin):
    italian = html(logged_in(admin, "it").get(url("accounts-user-list")))
    assert '<html lang="it">' in italian
    assert "Aggiungi utente" in italian and "Utenti" in italian
    english = html(logged_in(admin, "en").get(url("accounts-user-list")))
    assert '<html lang="en">' in english
    assert "Add User" in english and "Aggiungi utente" not in english


@pytest.mark.django_db
def test_the_login_page_follows_the_browser_and_offers_a_switch(db):
    italian = html(
        Client().get(reverse("accounts-login"), headers={"Accept-Language": "it-IT,it;q=0.9"})
    )
    assert "Organizzazione" in italian and "Accedi" in italian
    english = html(
        Client().get(reverse("accounts-login"), headers={"Accept-Language": "en-GB,en;q=0.9"})
    )
    assert "Organization" in english and "Log in" in english
    assert 'name="language" value="it"' in english and 'name="language" value="en"' in english
    client = Client(headers={"Accept-Language": "en"})
    client.post(reverse("set_language"), {"language": "it", "next": reverse("accounts-login")})
    assert "Organizzazione" in html(client.get(reverse("accounts-login")))


@pytest.mark.django_db
def test_the_login_error_is_translated(admin):
    response = Client(headers={"Accept-Language": "it"}).post(
        reverse("accounts-login"), {"organization": "acme", "username": "boss", "password": "no"}
    )
    assert "non sono corretti" in html(response)


def test_admin_rotates_the_client_secret_and_sees_it_once(client, org, admin):
    client.force_login(admin)
    page = client.get("/organization/")
    assert page.status_code == 200 and b"acme" in page.content

    rotated = client.post("/organization/")

    new_secret = rotated.context["client_secret"]
    assert new_secret and new_secret.encode() in rotated.content
    assert new_secret not in client.get("/organization/").content.decode()
    basic = base64.b64encode(f"acme:{new_secret}".encode()).decode()
    token = client.post(
        "/api/oauth/token",
        {"grant_type": "password", "username": "boss@acme", "password": PASSWORD},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200


def test_only_admins_see_the_organization_page(client, instructor):
    client.force_login(instructor)

    assert client.get("/organization/").status_code == 404
