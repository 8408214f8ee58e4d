"""The Italian fiscal code (codice fiscale, DM 23/12/1976): its form, its check
character, and whether its six name letters fit a person's names.

Pure functions, no Django beyond translated messages: the identity step
(practices.identity) uses them to check what the demonstration provider is told.
"""

import unicodedata

from django.utils.translation import gettext as _

MONTHS = "ABCDEHLMPRST"
# Omocodia: when two people would get the same code, digits are replaced,
# from the right, by these letters (0 → L … 9 → V).
OMOCODE_LETTERS = "LMNPQRSTUV"
DIGIT_POSITIONS = (6, 7, 9, 10, 12, 13, 14)
# The value of a character in an odd place, by its index ("0"/"A" first).
# fmt: off
ODD_VALUES = (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
)
# fmt: on
VOWELS = "AEIOU"


class FiscalCodeError(ValueError):
    pass


def _value(char: str) -> int:
    """A character's index in 0-9 or A-Z: "0" and "A" are 0, "9" and "J" are 9."""
    return int(char) if char.isdigit() else ord(char) - ord("A")


def check_character(first15: str) -> str:
    """The 16th character of a fiscal code from the first 15 (DM 23/12/1976):
    characters in odd places (1-based) count by a table, even ones by their
    index; the sum modulo 26 is a letter."""
    total = 0
    for index, char in enumerate(first15):
        value = _value(char)
        total += ODD_VALUES[value] if index % 2 == 0 else value
    return chr(ord("A") + total % 26)


def normalize(value: str) -> str:
    return "".join(str(value or "").split()).upper()


def check(value: str) -> str:
    """`value` as a well-formed fiscal code in upper case; FiscalCodeError otherwise."""
    code = normalize(value)
    if len(code) != 16:
        raise FiscalCodeError(_("A fiscal code has 16 characters."))
    if not code.isascii() or not code.isalnum():
        raise FiscalCodeError(_("A fiscal code has only letters and digits."))
    for index, char in enumerate(code[:15]):
        digit = index in DIGIT_POSITIONS
        if digit and not (char.isdigit() or char in OMOCODE_LETTERS):
            raise FiscalCodeError(_("This is not the form of a fiscal code."))
        if not digit and not char.isalpha():
            raise FiscalCodeError(_("This is not the form of a fiscal code."))
    if code[8] not in MONTHS:
        raise FiscalCodeError(_("This is not the form of a fiscal code."))
    day = int("".join(str(OMOCODE_LETTERS.find(c)) if c.isalpha() else c for c in code[9:11]))
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise FiscalCodeError(_("This is not the form of a fiscal code."))
    if not code[15].isalpha() or check_character(code[:15]) != code[15]:
        raise FiscalCodeError(_("The fiscal code is mistyped: its last letter does not match."))
    return code


def letters(name: str) -> str:
    """The ASCII letters of `name` in upper case, accents taken off."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(c for c in decomposed if "A" <= c.upper() <= "Z" and c.isascii()).upper()


def surname_code(surname: str) -> str:
    found = letters(surname)
    consonants = [c for c in found if c not in VOWELS]
    vowels = [c for c in found if c in VOWELS]
    return ("".join(consonants + vowels) + "XXX")[:3]


def first_name_code(first_name: str) -> str:
    found = letters(first_name)
    consonants = [c for c in found if c not in VOWELS]
    if len(consonants) >= 4:
        return consonants[0] + consonants[2] + consonants[3]
    vowels = [c for c in found if c in VOWELS]
    return ("".join(consonants + vowels) + "XXX")[:3]


def name_matches(code: str, *, first_name: str, last_name: str) -> bool:
    """Loosely, whether the code's six name letters belong to this person:
    the names may come swapped, and a second given name or surname may be
    left out by one side or the other."""

    def options(value: str, coder) -> set[str]:
        words = value.split()
        found = {coder(value)}
        found.update(coder(word) for word in words)
        return found

    surnames = options(last_name, surname_code)
    first_names = options(first_name, first_name_code)
    head, tail = code[:3], code[3:6]
    if head in surnames and tail in first_names:
        return True
    # Swapped fields: a surname given as the first name and vice versa.
    return head in options(first_name, surname_code) and tail in options(last_name, first_name_code)
