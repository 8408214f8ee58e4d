"""A DER length that ends in 0x80 is not BER's indefinite form (signing.asn1_lengths)."""

import pytest
from asn1crypto import core

from signing.asn1_lengths import has_indefinite_length


class Pair(core.Sequence):
    _fields = [("first", core.OctetString), ("second", core.Integer)]


@pytest.mark.parametrize(
    ("header", "indefinite"),
    [
        (b"\x30\x80", True),
        (b"\x30\x81\x80", False),  # 128 bytes
        (b"\x30\x82\x01\x80", False),  # 384 bytes
        (b"\x30\x7f", False),
        (b"\xa0\x80\x30\x81\x80", True),  # an explicit tag of indefinite length
        (b"\xa0\x81\x83\x30\x81\x80", False),  # explicit, all definite
        (b"\x1f\x81\x00\x80", True),  # a high tag number over two bytes
        (b"\x1f\x81\x00\x81\x80", False),
    ],
)
def test_the_length_form_is_read_after_the_tag(header, indefinite):
    assert has_indefinite_length(header) is indefinite


def _encodings(monkeypatch) -> list:
    calls = []
    original = core.Sequence._set_contents

    def counted(self, force=False):
        calls.append(force)
        return original(self, force)

    monkeypatch.setattr(core.Sequence, "_set_contents", counted)
    return calls


def test_a_value_of_128_bytes_dumps_as_it_was_read_without_encoding_again(monkeypatch):
    der = Pair({"first": b"x" * 123, "second": 7}).dump()
    assert der[:3] == b"\x30\x81\x80"
    value = Pair.load(der)
    encodings = _encodings(monkeypatch)

    assert value.dump() == der
    assert value.dump() == der
    assert encodings == []


def test_a_changed_value_of_128_bytes_is_encoded_with_its_new_length():
    value = Pair.load(Pair({"first": b"x" * 123, "second": 7}).dump())

    value["first"] = b"y" * 200

    assert Pair.load(value.dump())["first"].native == b"y" * 200
    assert value.dump()[:4] == b"\x30\x81\xce\x04"


def test_an_indefinite_length_is_still_encoded_again_as_der(monkeypatch):
    ber = b"\x30\x80\x04\x01x\x02\x01\x07\x00\x00"
    value = Pair.load(ber)
    encodings = _encodings(monkeypatch)

    assert value.dump() == b"\x30\x06\x04\x01x\x02\x01\x07"
    assert encodings == [True]
