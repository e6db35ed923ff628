"""Checks every app's input goes through before it reaches the database."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def has_nul(value: Any) -> bool:
    """Whether a string, or any string inside lists and dicts (keys too), holds a NUL character.

    PostgreSQL stores no NUL in text nor in jsonb (\\u0000): such a value fails the write.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False


def nul_message(label: str) -> str:
    return f"{label} contains a NUL character (\\x00), which cannot be stored: remove it."


def reject_nul(field: str, label: str, value: Any) -> None:
    """A ValidationError on `field` when `value` holds a NUL character."""
    if has_nul(value):
        raise ValidationError({field: [nul_message(label)]})
