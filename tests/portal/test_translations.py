"""Every string the pages and emails show is translated into each language
they speak besides English, the source: the catalogues are regenerated from
today's sources in a copy of the project (one makemessages run for all of
them), and nothing in any may be untranslated or fuzzy."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = (".git", ".venv", "var", "test-artifacts", "node_modules", "__pycache__", "*.mo")
SOURCE_LANGUAGE = "en"
LANGUAGES = [code for code in settings.TRANSLATED_LANGUAGES if code != SOURCE_LANGUAGE]

pytestmark = pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is not installed")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """A copy of the project whose catalogues makemessages has just updated."""
    copy = tmp_path_factory.mktemp("translations") / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*SKIPPED))
    locales = [argument for code in LANGUAGES for argument in ("-l", code)]
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", *locales, "-v", "0", "--ignore=bench"],
        cwd=copy,
        check=True,
    )
    return copy


def test_italian_spanish_and_french_are_among_them():
    assert {"it", "es", "fr"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_covers_every_string(regenerated, language):
    catalogue = regenerated / "locale" / language / "LC_MESSAGES" / "django.po"
    statistics = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(catalogue)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert "untranslated" not in statistics and "fuzzy" not in statistics, statistics
