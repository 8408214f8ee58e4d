"""Every string the pages and emails show is translated into Italian: the
catalogue is regenerated from today's sources in a copy of the project, and
nothing in it may be untranslated or fuzzy."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = (".git", ".venv", "var", "test-artifacts", "node_modules", "__pycache__", "*.mo")


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is not installed")
def test_the_italian_catalogue_covers_every_string(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*SKIPPED))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "it", "-v", "0", "--ignore=bench"],
        cwd=copy,
        check=True,
    )
    catalogue = copy / "locale" / "it" / "LC_MESSAGES" / "django.po"
    statistics = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(catalogue)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert "untranslated" not in statistics and "fuzzy" not in statistics, statistics
