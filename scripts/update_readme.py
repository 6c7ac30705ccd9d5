"""Regenerate the configuration table in README.md from ``Settings`` (``make readme``)."""

from __future__ import annotations

import re
from pathlib import Path

from tympan.config import settings_reference_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- settings:begin -->\n).*?(<!-- settings:end -->)", re.DOTALL)


def main() -> None:
    text = README.read_text()
    README.write_text(BLOCK.sub(lambda m: m[1] + settings_reference_markdown() + "\n" + m[2], text))


if __name__ == "__main__":
    main()
