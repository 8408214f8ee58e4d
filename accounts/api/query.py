"""The Users list's $filter and $orderBy: `name == "Milk" or surname != "Bread"`.

`and` binds tighter than `or`; parentheses group. Values are quoted strings,
or bare words for booleans. Anything else is a FilterError naming the problem.
"""

import re
import uuid

from django.db.models import Q

FIELDS = {
    "id": "id",
    "username": "username",
    "domain": "organization__slug",
    "language": "language",
    "name": "name",
    "surname": "surname",
    "email": "email",
    "phone": "phone",
    "role": "role",
    "automatic": "automatic",
    "enabled": "enabled",
    "createdBy": "created_by_id",
}
ORDERABLE = FIELDS | {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "deletedAt": "deleted_at",
}
_BOOLEAN = {"automatic", "enabled"}
_UUID = {"id", "createdBy"}

_TOKEN = re.compile(
    r"""\s*(?:(?P<op>==|!=)|"(?P<dq>(?:[^"\\]|\\.)*)"|'(?P<sq>[^']*)'|(?P<word>[A-Za-z_]\w*)|(?P<punct>[()]))"""
)


class FilterError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"Unexpected character at position {pos}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "dq":
            value = re.sub(r"\\(.)", r"\1", value)
        out.append(("str" if kind in ("dq", "sq") else kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.pos = tokens, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("Unexpected end of filter")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def expression(self) -> Q:
        q = self.conjunction()
        while self.keyword("or"):
            q |= self.conjunction()
        return q

    def conjunction(self) -> Q:
        q = self.comparison()
        while self.keyword("and"):
            q &= self.comparison()
        return q

    def comparison(self) -> Q:
        kind, value = self.take()
        if (kind, value) == ("punct", "("):
            q = self.expression()
            if self.take() != ("punct", ")"):
                raise FilterError("Expected )")
            return q
        if kind != "word":
            raise FilterError(f"Expected a field name, found {value!r}")
        field = value
        if field not in FIELDS:
            raise FilterError(f"Cannot filter on {field!r}")
        op_kind, op = self.take()
        if op_kind != "op":
            raise FilterError(f"Expected == or != after {field}")
        q = Q(**{FIELDS[field]: _value(field, *self.take())})
        return q if op == "==" else ~q


def _value(field: str, kind: str, raw: str):
    if kind not in ("str", "word"):
        raise FilterError(f"Expected a value for {field}")
    if field in _BOOLEAN:
        if raw.lower() not in ("true", "false"):
            raise FilterError(f"{field} is true or false")
        return raw.lower() == "true"
    if kind != "str":
        raise FilterError(f"Quote the value for {field}")
    if field in _UUID:
        try:
            return uuid.UUID(raw)
        except ValueError as exc:
            raise FilterError(f"{field} is a UUID") from exc
    return raw


def parse_filter(text: str) -> Q:
    parser = _Parser(_tokens(text))
    q = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"Unexpected {parser.peek()[1]!r}")
    return q


def parse_order(text: str) -> str:
    field, _, direction = (part.strip() for part in text.partition(","))
    if field not in ORDERABLE:
        raise FilterError(f"Cannot order by {field!r}")
    if direction.lower() not in ("", "asc", "desc"):
        raise FilterError("Direction is asc or desc")
    return ("-" if direction.lower() == "desc" else "") + ORDERABLE[field]
