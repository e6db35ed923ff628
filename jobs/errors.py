"""Errors that say what went wrong and where in the source file."""

from __future__ import annotations


class SourceError(Exception):
    """A problem with the source file or one of its rows: permanent, never retried."""

    def __init__(self, reason: str, *, line: int | None = None, column: str = "", value: str = ""):
        self.reason = reason
        self.line = line
        self.column = column
        self.value = value
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column {self.column!r}")
        text = ", ".join(where)
        text = f"{text}: {self.reason}" if text else self.reason
        if self.value:
            text += f" (value {_clip(self.value)!r})"
        return text


def _clip(value: str, limit: int = 120) -> str:
    return value if len(value) <= limit else value[:limit] + "…"
