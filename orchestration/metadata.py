"""Small helpers that turn library results into Dagster UI metadata."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def table_md(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A markdown table (the UI renders it in the asset's metadata panel)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def bullet_md(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items) or "- (none)"
