"""Spanish and French: the signer's page and the ticket email speak the
language of the signer's account, and the language switch offers them."""

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import services as account_services
from practices import notifications
from practices.models import Practice
from tests.practices.conftest import dst_body, signature_request, url

pytestmark = pytest.mark.django_db

# What each language shows: on the signer's page, in the ticket email.
PAGE = {
    "es": ("Solicitud de firma", "Firmar el documento"),
    "fr": ("Demande de signature", "Signer le document"),
}
EMAIL = {
    "es": ("Pendiente de firma: Titolo pratica", "Hola, Anna Bianchi:", "te pide que firmes"),
    # The subject's white space is normalised: no non-breaking space before the colon.
    "fr": ("À signer : Titolo pratica", "Bonjour Anna Bianchi,", "vous invite à signer"),
}


def _signer(email: str, first: str = "Anna", last: str = "Bianchi") -> dict:
    return signature_request(signer={"email": email, "first_name": first, "last_name": last})


@pytest.mark.parametrize("language", ["es", "fr"])
def test_the_signer_page_speaks_the_language_of_the_signers_account(admin_api, signer, language):
    account_services.user_update(user=signer, language=language)
    body = dst_body(groups=[[_signer("MRossi@acme.example", "Mario", "Rossi")]])
    response = admin_api.post(url(), body)
    assert response.status_code == 201, response.content
    item = response.json()["data"]["documents"][0]["groups"][0][0]
    ticket = item["signature_ticket"].rsplit("/sign/", 1)[1]

    # The browser asks for Italian; the account's language wins.
    client = Client(headers={"Accept-Language": "it"})
    opened = client.get(f"/sign/{ticket}")
    assert opened.status_code == 302, opened.content
    page = client.get(opened["Location"])

    assert page.status_code == 200
    assert page["Content-Language"] == language
    html = page.content.decode()
    assert f'<html lang="{language}">' in html
    assert all(text in html for text in PAGE[language]), html
    assert "Firma il documento" not in html and "Sign the document" not in html


@pytest.mark.usefixtures("celery_eager")
@pytest.mark.parametrize("language", ["es", "fr"])
def test_the_email_of_an_unlocked_group_speaks_the_signers_language(
    admin_api, signer, django_capture_on_commit_callbacks, language
):
    account_services.user_update(user=signer, language=language)
    body = dst_body(
        groups=[[_signer("first@mail.com", "Primo", "Uno")], [_signer("MRossi@acme.example")]],
        metadata={},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(url(), body)
    assert response.status_code == 201, response.content
    document = Practice.objects.get(pk=response.json()["data"]["id"]).documents.get()
    assert [m.to for m in mail.outbox] == [["first@mail.com"]]
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        notifications.group_unlocked(document=document, group=1)

    [message] = mail.outbox
    assert message.to == ["MRossi@acme.example"]
    subject, greeting, request = EMAIL[language]
    assert message.subject == subject
    assert greeting in message.body and request in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and greeting in html and request in html
    assert f'<html lang="{language}">' in html


@pytest.mark.parametrize("language", ["es", "fr"])
def test_an_unknown_signer_gets_the_organizations_language(
    org, admin_api, django_capture_on_commit_callbacks, celery_eager, language
):
    organization = org.organization
    organization.language = language
    organization.save(update_fields=["language"])
    body = dst_body(groups=[[_signer("nobody@mail.com")]], metadata={})

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.post(url(), body).status_code == 201

    [message] = mail.outbox
    assert message.subject == EMAIL[language][0]


def test_the_language_switch_offers_every_language_in_its_own_name():
    assert [code for code, _name in settings.LANGUAGES] == ["it", "en", "es", "fr"]
    client = Client(headers={"Accept-Language": "en"})
    pages = {"en": client.get(reverse("accounts-login")).content.decode()}
    for language in ("es", "fr"):
        client.post(reverse("set_language"), {"language": language, "next": "/login/"})
        pages[language] = client.get(reverse("accounts-login")).content.decode()

    for language, page in pages.items():
        assert f'<html lang="{language}">' in page
        for code, name in settings.LANGUAGES:
            pressed = "true" if code == language else "false"
            button = f'name="language" value="{code}" lang="{code}" aria-pressed="{pressed}">'
            assert f"{button}{name}</button>" in page
    assert "Organización" in pages["es"] and "Mot de passe" in pages["fr"]
