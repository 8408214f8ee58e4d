"""A signer keeps one advanced or qualified identity; one-time certificates are never reused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal import trust
from signing.pki import Profile, Subject

MARIO = Subject(common_name="Mario Rossi", email="mrossi@acme.example")


@pytest.mark.parametrize("profile", [Profile.ADVANCED, Profile.QUALIFIED])
def test_the_same_identity_gets_the_same_certificate(portal_pki, profile):
    first = trust.certificate_for(profile=profile, subject=MARIO, owner="signer:mrossi")
    again = trust.certificate_for(profile=profile, subject=MARIO, owner="signer:mrossi")

    assert again.pk == first.pk


def test_another_identity_or_profile_gets_its_own(portal_pki):
    advanced = trust.certificate_for(profile=Profile.ADVANCED, subject=MARIO, owner="signer:a")

    other_owner = trust.certificate_for(profile=Profile.ADVANCED, subject=MARIO, owner="signer:b")
    qualified = trust.certificate_for(profile=Profile.QUALIFIED, subject=MARIO, owner="signer:a")

    assert len({advanced.pk, other_owner.pk, qualified.pk}) == 3


def test_one_time_certificates_are_always_new(portal_pki):
    first = trust.certificate_for(profile=Profile.ONE_TIME, subject=MARIO, owner="signer:a")
    second = trust.certificate_for(profile=Profile.ONE_TIME, subject=MARIO, owner="signer:a")

    assert first.pk != second.pk


def test_a_revoked_or_expiring_certificate_is_replaced(portal_pki):
    first = trust.certificate_for(profile=Profile.ADVANCED, subject=MARIO, owner="signer:a")
    trust.revoke(serial=first.serial)
    second = trust.certificate_for(profile=Profile.ADVANCED, subject=MARIO, owner="signer:a")
    second.not_after = timezone.now() + timedelta(hours=1)
    second.save()

    third = trust.certificate_for(profile=Profile.ADVANCED, subject=MARIO, owner="signer:a")

    assert len({first.pk, second.pk, third.pk}) == 3
