"""`make bench`: run every benchmark module and print its ratios.

Each benchmark runs against a throw-away VAR_DIR (SQLite), so it never touches
a real installation.
"""

import sys

from bench import django_setup


def main() -> int:
    django_setup()
    from bench import api_auth, practices, signing, tickets, webhooks

    api_auth.run()
    signing.run()
    webhooks.run()
    practices.run()
    tickets.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
