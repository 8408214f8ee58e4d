"""A row and the rows its foreign keys lead to, read by one statement built once.

The ORM compiles a query again on every run, and a select_related over four
tables took longer to compile than SQLite took to answer it: about 1.5 ms of
CPU for the bearer-token lookup and about 2 ms for the ticket lookup, paid
on every call that presents one. Here the statement is built once per database
from the models' metadata, and each row becomes model instances through the
ORM's own converters and `from_db`, linked as select_related links them, so
the result follows the models (tests compare the two, field by field, on
SQLite and PostgreSQL).
"""

from dataclasses import dataclass
from functools import cache

from django.db import connections, router
from django.db.models import Field, ForeignKey, Model


@dataclass(frozen=True)
class ModelColumns:
    """One model's columns in a row: what it takes to make the instance."""

    model: type[Model]
    attnames: list[str]
    converters: list[tuple[list, object]]  # per column: (converters, expression)

    def instance(self, alias: str, values: tuple) -> Model:
        connection = connections[alias]
        converted = list(values)
        for index, (converters, expression) in enumerate(self.converters):
            for converter in converters:
                converted[index] = converter(converted[index], expression, connection)
        return self.model.from_db(alias, self.attnames, converted)


def model_columns(model: type[Model], table: str, alias: str) -> tuple[ModelColumns, list[str]]:
    """`model`'s columns under the table alias `table`, and their SQL."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields: list[Field] = list(model._meta.concrete_fields)
    converters = []
    for field in fields:
        column = field.get_col(table)
        # What SQLCompiler.get_converters applies: the backend's, then the field's.
        converters.append(
            (
                connection.ops.get_db_converters(column) + column.get_db_converters(connection),
                column,
            )
        )
    columns = [f"{table}.{quote(field.column)}" for field in fields]
    return ModelColumns(model, [field.attname for field in fields], converters), columns


def instances(alias: str, row: tuple, parts: tuple[ModelColumns, ...]) -> list[Model]:
    """The row cut into one instance per part, in order."""
    made, start = [], 0
    for part in parts:
        made.append(part.instance(alias, row[start : start + len(part.attnames)]))
        start += len(part.attnames)
    return made


@dataclass(frozen=True)
class Chain:
    """`model` found by the unique field `by`, with the objects its foreign keys
    `path` lead to (("document", "practice") for request.document.practice),
    as `select_related("__".join(path))` would load them."""

    model: type[Model]
    path: tuple[str, ...]
    by: str

    def get(self, value) -> Model | None:
        alias = router.db_for_read(self.model)
        sql, parts, links = _chain_statement(alias, self)
        connection = connections[alias]
        by = self.model._meta.get_field(self.by)
        with connection.cursor() as cursor:
            cursor.execute(sql, [by.get_db_prep_value(value, connection)])
            row = cursor.fetchone()
        if row is None:
            return None
        made = instances(alias, row, parts)
        for index, link in enumerate(links):
            link.set_cached_value(made[index], made[index + 1])
        return made[0]


@cache
def _chain_statement(alias: str, chain: Chain) -> tuple[str, tuple[ModelColumns, ...], tuple]:
    quote = connections[alias].ops.quote_name
    model = chain.model
    part, columns = model_columns(model, "t0", alias)
    parts, links = [part], []
    joins = [f"FROM {quote(model._meta.db_table)} t0"]
    for number, name in enumerate(chain.path, 1):
        link = model._meta.get_field(name)
        if not isinstance(link, ForeignKey) or link.null:
            raise ValueError(f"{model.__name__}.{name} is not a required foreign key")
        model = link.related_model
        part, part_columns = model_columns(model, f"t{number}", alias)
        parts.append(part)
        links.append(link)
        columns += part_columns
        joins.append(
            f"JOIN {quote(model._meta.db_table)} t{number} ON t{number}."
            f"{quote(link.target_field.column)} = t{number - 1}.{quote(link.column)}"
        )
    by = chain.model._meta.get_field(chain.by)
    if not (by.unique or by.primary_key):
        raise ValueError(f"{chain.model.__name__}.{chain.by} is not unique")
    # Only quoted names from the models' metadata go into the text; the value
    # is a parameter.
    sql = f"SELECT {', '.join(columns)} {' '.join(joins)} WHERE t0.{quote(by.column)} = %s"
    return sql, tuple(parts), tuple(links)
