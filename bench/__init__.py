"""Benchmarks: each figure is printed as a ratio against a baseline measured in the same run."""

import os
import tempfile


def django_setup() -> None:
    """Django set up on a throw-away VAR_DIR (SQLite, migrated), so a benchmark
    never touches a real installation; no broker unless a benchmark starts one."""
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="sigillo-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
