"""INSERT statements built once per model: bulk_create without compiling again.

A DST create writes five tables, and Django's bulk_create compiles a new
INSERT every time: with its checks, that was about a third of the rows'
insert time and a tenth of a create. Here the statement text is built once per
(database, model, number of rows) and the values still go through the ORM's
own preparation (`pre_save`, `get_db_prep_save`), so the row written is the
row bulk_create writes (tests compare the two, on SQLite and PostgreSQL).

Only the plain case is covered: a model with no database defaults, generated
columns or placeholders of its own, values that are not expressions. Anything
else goes to bulk_create.
"""

from collections.abc import Sequence
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


def insert(objs: Sequence[Model]) -> None:
    """Insert new instances of one model, as `bulk_create(objs)` would: keys
    made by the database are set on them, and they count as saved."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    fields = _plain_fields(alias, model)
    if fields is None or not connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.bulk_create(objs)
        return
    # Batches as bulk_create makes them, within the database's parameter limit.
    size = connection.ops.bulk_batch_size(fields, objs)
    batches = [objs[start : start + size] for start in range(0, len(objs), size)]
    try:
        statements = [_batch(alias, batch, connection) for batch in batches]
    except _NotPlain:
        model._default_manager.bulk_create(objs)
        return
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        for (sql, params, returning), batch in zip(statements, batches, strict=True):
            cursor.execute(sql, params)
            if returning:
                for obj, (key,) in zip(batch, cursor.fetchall(), strict=True):
                    obj.pk = key
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


def _batch(alias: str, objs: Sequence[Model], connection) -> tuple[str, list, bool]:
    sql, fields, returning = _statement(alias, type(objs[0]), len(objs))
    params = [value for obj in objs for value in _values(obj, fields, returning, connection)]
    return sql, params, returning


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
