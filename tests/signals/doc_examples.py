"""The examples of docs/signals.md: fenced blocks marked `signal` are bodies that must parse;
unlabelled blocks with {{placeholders}} are alert message templates."""

from __future__ import annotations

from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "signals.md"


def _blocks() -> list[tuple[str, str]]:
    """(info string, content) of each fenced block, in order."""
    blocks: list[tuple[str, str]] = []
    info: str | None = None
    lines: list[str] = []
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```") and info is None:
            info, lines = line[3:].strip(), []
        elif line.startswith("```"):
            assert info is not None
            blocks.append((info, "\n".join(lines)))
            info = None
        elif info is not None:
            lines.append(line)
    return blocks


def documented_examples() -> list[str]:
    return [content for info, content in _blocks() if info == "signal"]


def placeholder_templates() -> list[str]:
    return [content for info, content in _blocks() if info == "" and "{{" in content]
