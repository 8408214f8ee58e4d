"""Drop the indexes of foreign keys that a unique constraint or another index
already starts with: each was one more page written per insert.

Only the indexes are dropped (DROP INDEX on SQLite and PostgreSQL alike):
AlterField would rebuild the six tables on SQLite, copying every row.
"""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, the index name Django gave the foreign key's index)
COVERED = [
    ("practices_auditevent", "practice_id", "practices_auditevent_practice_id_a34e0150"),
    ("practices_document", "practice_id", "practices_document_practice_id_06238127"),
    ("practices_otpchallenge", "request_id", "practices_otpchallenge_request_id_f7b3af68"),
    ("practices_practice", "organization_id", "practices_practice_organization_id_d9534aec"),
    ("practices_revision", "document_id", "practices_revision_document_id_b930ff47"),
    (
        "practices_signaturerequest",
        "document_id",
        "practices_signaturerequest_document_id_8713b7af",
    ),
]


def _foreign_key(on_delete, related_name: str, to: str) -> models.ForeignKey:
    return models.ForeignKey(db_index=False, on_delete=on_delete, related_name=related_name, to=to)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("practices", "0003_otpchallenge"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                )
                for table, column, index in COVERED
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="practice",
                    field=_foreign_key(
                        django.db.models.deletion.PROTECT, "audit_events", "practices.practice"
                    ),
                ),
                migrations.AlterField(
                    model_name="document",
                    name="practice",
                    field=_foreign_key(
                        django.db.models.deletion.CASCADE, "documents", "practices.practice"
                    ),
                ),
                migrations.AlterField(
                    model_name="otpchallenge",
                    name="request",
                    field=_foreign_key(
                        django.db.models.deletion.CASCADE,
                        "otp_challenges",
                        "practices.signaturerequest",
                    ),
                ),
                migrations.AlterField(
                    model_name="practice",
                    name="organization",
                    field=_foreign_key(
                        django.db.models.deletion.PROTECT, "practices", "accounts.organization"
                    ),
                ),
                migrations.AlterField(
                    model_name="revision",
                    name="document",
                    field=_foreign_key(
                        django.db.models.deletion.CASCADE, "revisions", "practices.document"
                    ),
                ),
                migrations.AlterField(
                    model_name="signaturerequest",
                    name="document",
                    field=_foreign_key(
                        django.db.models.deletion.CASCADE, "requests", "practices.document"
                    ),
                ),
            ],
        )
    ]
