"""The README's configuration table is generated from ``Settings`` and must stay in sync."""

from __future__ import annotations

from pathlib import Path

from tympan.config import settings_reference_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    assert text.index("make run") < text.index("make test") < text.index("## Using it")


def test_configuration_table_is_current() -> None:
    assert settings_reference_markdown() in README.read_text(), "run `make readme`"
