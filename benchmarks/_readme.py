"""benchmarks/README.md: each benchmark owns one ``## `` section, which it replaces or appends."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).parent / "README.md"


def write_section(heading: str, body: str) -> None:
    """Put ``heading`` (a ``## `` line) and ``body`` in place of that section, or at the end; the rest stays."""
    text = README.read_text(encoding="utf-8")
    section = f"{heading}\n\n{body.strip()}\n"
    start = text.find(f"\n{heading}\n")
    if start < 0:
        README.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    following = text.find("\n## ", start + 1)
    README.write_text(text[: start + 1] + section + (text[following:] if following >= 0 else ""), encoding="utf-8")
