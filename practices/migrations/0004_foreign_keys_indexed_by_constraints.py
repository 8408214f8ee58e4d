"""Drop the indexes of foreign keys that a unique constraint or another index
already starts with: each was one more page written per insert.

Only the indexes are dropped (DROP INDEX on SQLite and PostgreSQL alike):
AlterField would rebuild the six tables on SQLite, copying every row.
"""

from django.db import migrations, models
from django.db.models.deletion import CASCADE, PROTECT

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

# (model, field, on_delete, related_name, to): the same foreign keys in the state.
FOREIGN_KEYS = [
    ("auditevent", "practice", PROTECT, "audit_events", "practices.practice"),
    ("document", "practice", CASCADE, "documents", "practices.practice"),
    ("otpchallenge", "request", CASCADE, "otp_challenges", "practices.signaturerequest"),
    ("practice", "organization", PROTECT, "practices", "accounts.organization"),
    ("revision", "document", CASCADE, "revisions", "practices.document"),
    ("signaturerequest", "document", CASCADE, "requests", "practices.document"),
]


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
                    model_name=model,
                    name=name,
                    field=models.ForeignKey(
                        db_index=False, on_delete=on_delete, related_name=related, to=to
                    ),
                )
                for model, name, on_delete, related, to in FOREIGN_KEYS
            ],
        )
    ]
