"""The identity step's pieces: the Italian fiscal code (form, check character,
name letters), matching the request's signer, and choosing the provider."""

import datetime as dt

import pytest

from practices import identity
from practices.fiscal_code import (
    FiscalCodeError,
    check_character,
    first_name_code,
    name_matches,
    surname_code,
)
from practices.fiscal_code import check as check_fiscal_code
from practices.identity import DemoIdentityProvider, VerifiedIdentity

MARIO = "RSSMRA80A01H501U"  # Mario Rossi, born in Rome on 1 January 1980


@pytest.mark.parametrize(
    ("first15", "check"),
    [
        ("RSSMRA80A01H501", "U"),
        ("MRTMTT25D09F205", "Z"),  # the example of the Italian Wikipedia
        ("RSSMRA80A01H50M", "M"),  # omocodia: the last digit became a letter
    ],
)
def test_the_check_character(first15, check):
    assert check_character(first15) == check


def test_a_well_formed_code_is_answered_in_upper_case_without_spaces():
    assert check_fiscal_code(" rssmra80a01h501u ") == MARIO
    assert check_fiscal_code("RSS MRA 80A01 H501U") == MARIO
    assert check_fiscal_code("RSSMRA80A01H50MM") == "RSSMRA80A01H50MM"
    woman = "BNCGNN75C41F205"  # born on the 1st: a woman's day counts 40 more
    assert check_fiscal_code(woman + check_character(woman)).startswith(woman)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "RSSMRA80A01H501",  # 15 characters
        "RSSMRA80A01H501UU",  # 17
        "RSSMRA80A01H501X",  # the wrong check character
        "RSSMRA80Z01H501U",  # no month Z
        "RSSMRA80A32H501U",  # no day 32
        "RSSMR480A01H501U",  # a digit among the name letters
        "RSSMRA8AA01H501U",  # a letter that is not an omocodia letter
        "RSSMRA80A01H501-",
        "RSSMRÀ80A01H501U",
    ],
)
def test_malformed_codes_are_refused(code):
    with pytest.raises(FiscalCodeError):
        check_fiscal_code(code)


def test_name_letters():
    assert surname_code("Rossi") == "RSS"
    assert surname_code("Fo") == "FOX"
    assert surname_code("D'Amico") == "DMC"
    assert first_name_code("Mario") == "MRA"
    assert first_name_code("Gianfranco") == "GFR"  # four consonants or more: 1st, 3rd, 4th
    assert first_name_code("Luca") == "LCU"
    assert first_name_code("Élodie") == "LDE"


def test_names_are_matched_loosely():
    assert name_matches(MARIO, first_name="Mario", last_name="Rossi")
    assert name_matches(MARIO, first_name="mario", last_name="ROSSI")
    assert name_matches(MARIO, first_name="Rossi", last_name="Mario")  # swapped fields
    assert name_matches(MARIO, first_name="Mario Luigi", last_name="Rossi")  # a second name
    assert not name_matches(MARIO, first_name="Maria", last_name="Bianchi")
    assert not name_matches(MARIO, first_name="Ada", last_name="Rossi")


class Request:
    signer_first_name = "Mário"
    signer_last_name = "Rossi"


def verified(first: str, last: str) -> VerifiedIdentity:
    return VerifiedIdentity(
        first_name=first,
        last_name=last,
        fiscal_code=MARIO,
        provider="test",
        level="SpidL2",
        verified_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def test_the_identity_must_be_the_requests_signer():
    assert identity.matches_signer(verified("Mario", "Rossi"), Request())
    assert identity.matches_signer(verified("ROSSI", "mario"), Request())
    assert not identity.matches_signer(verified("Maria", "Rossi"), Request())
    assert not identity.matches_signer(verified("", ""), Request())


def test_an_identity_survives_its_json_and_names_the_tax_number():
    person = verified("Mario", "Rossi")
    assert VerifiedIdentity.from_json(person.to_json()) == person
    assert person.semantics_identifier == "TINIT-RSSMRA80A01H501U"
    assert person.full_name == "Mario Rossi"


class OtherProvider(DemoIdentityProvider):
    name = "other"


def test_the_provider_comes_from_the_setting(settings):
    assert isinstance(identity.provider(), DemoIdentityProvider)  # the default
    settings.SPID_IDENTITY_PROVIDER = f"{__name__}.OtherProvider"
    chosen = identity.provider()
    assert chosen.name == "other"
    assert isinstance(chosen, identity.IdentityProvider)
