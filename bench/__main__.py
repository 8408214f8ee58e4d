"""`make bench`: run every benchmark module and print its ratios.

Each benchmark runs against a throw-away VAR_DIR (SQLite), so it never touches
a real installation.
"""

import os
import sys
import tempfile


def main() -> int:
    var_dir = tempfile.mkdtemp(prefix="sigillo-bench-")
    os.environ["VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")  # the benches use no broker

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from bench import api_auth, practices, signing, tickets, webhooks

    api_auth.run()
    signing.run()
    webhooks.run()
    practices.run()
    tickets.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
