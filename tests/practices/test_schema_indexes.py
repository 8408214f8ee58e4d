"""Every foreign key of a practice's tables is looked up through an index that
starts with it, and has no index of its own beside a wider one that does."""

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import ForeignKey

pytestmark = pytest.mark.django_db


def _indexes(table: str) -> list[list[str]]:
    """The columns of each index and unique constraint on `table`, in order."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [c["columns"] for c in constraints.values() if c["index"] or c["unique"]]


def _foreign_keys():
    for model in apps.get_app_config("practices").get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, ForeignKey):
                yield model._meta.db_table, field.column


@pytest.mark.parametrize(("table", "column"), list(_foreign_keys()))
def test_each_foreign_key_leads_an_index_and_no_redundant_one(table, column):
    leading = [columns for columns in _indexes(table) if columns[0] == column]

    # A lone index beside a wider one starting with the same column is only
    # a page more to write per insert.
    assert leading, f"{table}.{column} has no index"
    assert not (len(leading) > 1 and [column] in leading), f"{table}.{column}: {leading}"
