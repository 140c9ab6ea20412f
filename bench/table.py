"""The one table the benchmark prints at the end."""

from __future__ import annotations

from collections.abc import Sequence
import textwrap

from .common import Row

FIGURE_WIDTH = 44
VALUE_WIDTH = 24
MEANING_WIDTH = 64
GAP = "  "


def _cells(row: Row) -> list[tuple[str, str, str]]:
    figure = textwrap.wrap(row.figure, FIGURE_WIDTH) or [""]
    value = textwrap.wrap(row.value, VALUE_WIDTH) or [""]
    meaning = textwrap.wrap(row.meaning, MEANING_WIDTH) or [""]
    height = max(len(figure), len(value), len(meaning))
    return [
        (
            figure[i] if i < len(figure) else "",
            value[i] if i < len(value) else "",
            meaning[i] if i < len(meaning) else "",
        )
        for i in range(height)
    ]


def _line(figure: str, value: str, meaning: str) -> str:
    text = f"{figure:<{FIGURE_WIDTH}}{GAP}{value:<{VALUE_WIDTH}}{GAP}{meaning}"
    return text.rstrip()


def render(title: str, groups: Sequence[tuple[str, Sequence[Row]]]) -> str:
    """The table: a heading per group of rows, each row wrapped into its columns."""
    rule = "-" * (FIGURE_WIDTH + VALUE_WIDTH + MEANING_WIDTH + 2 * len(GAP))
    lines = [rule, title, rule, _line("Figure", "Value", "Meaning"), rule]
    for heading, rows in groups:
        lines.append(f"[{heading}]")
        for row in rows:
            lines.extend(_line(*cells) for cells in _cells(row))
        lines.append("")
    lines[-1] = rule
    return "\n".join(lines) + "\n"
