"""INSERT statements built once per model: bulk_create without compiling again.

A DST create writes five tables, and Django's bulk_create compiles a new
INSERT every time: with its checks, that was about a third of the rows'
insert time and a tenth of a create. Here the statement text is built once per
(database, model, number of rows) and the values still go through the ORM's
own preparation (`pre_save`, `get_db_prep_save`), so the row written is the
row bulk_create writes (tests compare the two, on SQLite and PostgreSQL).

`prepare(objs)` makes the statements with their values and writes nothing;
`run()` on the result executes them, so the values can be prepared before a
transaction begins.

Only the plain case is covered: a model with no database defaults, generated
columns or placeholders of its own, values that are not expressions. Anything
else goes to bulk_create.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from django.db import connections, router, transaction
from django.db.models import AutoField, BinaryField, Field, Model


@cache
def _plain_fields(alias: str, model: type[Model]) -> tuple[Field, ...] | None:
    """The model's columns, when every one of them takes a plain "%s" value;
    None when bulk_create must handle the model."""
    ops = connections[alias].ops
    fields = tuple(model._meta.concrete_fields)
    for field in fields:
        if field.generated or field.has_db_default():
            return None
        # BinaryField declares a placeholder of its own, "%s" on SQLite and PostgreSQL.
        if hasattr(field, "get_placeholder") and not (
            isinstance(field, BinaryField) and ops.binary_placeholder_sql(b"") == "%s"
        ):
            return None
    return fields


@lru_cache(maxsize=256)
def _statement(alias: str, model: type[Model], rows: int) -> tuple[str, list[Field], bool]:
    """(SQL, the fields given values, whether the key comes back by RETURNING)."""
    quote = connections[alias].ops.quote_name
    pk = model._meta.pk
    returning = isinstance(pk, AutoField)
    fields = [f for f in _plain_fields(alias, model) if not (returning and f is pk)]
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    rows_sql = ", ".join([f"({', '.join(['%s'] * len(fields))})"] * rows)
    # Only quoted names from the model's metadata go into the text.
    sql = f"INSERT INTO {table} ({columns}) VALUES {rows_sql}"  # noqa: S608
    if returning:
        sql += f" RETURNING {quote(pk.column)}"
    return sql, fields, returning


class _NotPlain(Exception):
    """A value only bulk_create can write."""


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: list
    returning: bool  # the keys come back by RETURNING, in the batch's order
    batch: Sequence[Model]


@dataclass(frozen=True)
class Insert:
    """New instances of one model with their statements ready: run() writes them.

    Preparing runs the ORM's value preparation, most of an insert's Python
    time: done before the transaction, a SQLite writer holds the lock for the
    statements only. `statements` is None when bulk_create must write them.
    """

    objs: Sequence[Model]
    alias: str
    statements: list[_Statement] | None

    def run(self) -> None:
        """Write the rows, as `bulk_create(objs)` would: keys made by the
        database are set on the instances, and they count as saved."""
        if not self.objs:
            return
        if self.statements is None:
            type(self.objs[0])._default_manager.bulk_create(self.objs)
            return
        connection = connections[self.alias]
        with transaction.atomic(using=self.alias, savepoint=False), connection.cursor() as cursor:
            for statement in self.statements:
                cursor.execute(statement.sql, statement.params)
                if statement.returning:
                    for obj, (key,) in zip(statement.batch, cursor.fetchall(), strict=True):
                        obj.pk = key
        for obj in self.objs:
            obj._state.adding = False
            obj._state.db = self.alias


def prepare(objs: Sequence[Model]) -> Insert:
    """The insert of new instances of one model, values prepared, nothing written."""
    if not objs:
        return Insert(objs, "", [])
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    fields = _plain_fields(alias, model)
    if fields is None or not connection.features.can_return_rows_from_bulk_insert:
        return Insert(objs, alias, None)
    # Batches as bulk_create makes them, within the database's parameter limit.
    size = connection.ops.bulk_batch_size(fields, objs)
    try:
        statements = [
            _statement_for(alias, objs[start : start + size], connection)
            for start in range(0, len(objs), size)
        ]
    except _NotPlain:
        return Insert(objs, alias, None)
    return Insert(objs, alias, statements)


def _statement_for(alias: str, batch: Sequence[Model], connection) -> _Statement:
    sql, fields, returning = _statement(alias, type(batch[0]), len(batch))
    params = [value for obj in batch for value in _values(obj, fields, returning, connection)]
    return _Statement(sql, params, returning, batch)


def _values(obj: Model, fields: list[Field], returning: bool, connection) -> list:
    """The row's parameters, prepared as bulk_create prepares them."""
    if returning and obj.pk is not None:
        raise _NotPlain  # bulk_create writes a given auto key in a statement of its own
    if not obj._is_pk_set():
        obj.pk = obj._meta.pk.get_pk_value_on_save(obj)
    # The ids of related objects assigned as instances, refusing unsaved ones.
    obj._prepare_related_fields_for_save(operation_name="insert")
    values = []
    for field in fields:
        value = field.pre_save(obj, add=True)
        if hasattr(value, "resolve_expression"):
            raise _NotPlain
        values.append(field.get_db_prep_save(value, connection))
    return values
