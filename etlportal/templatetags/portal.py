"""Template filters the pages share."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template: {{ row.values|get_item:name }}."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) as "1 h 02 min", "3 min 05 s" or "4.2 s"."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def percent(value, digits: int = 0) -> str:
    """A fraction as a percentage: 0.425 -> "42%"."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


_LINE_ENDINGS = {"\n": "LF (Unix)", "\r\n": "CRLF (Windows)", "\r": "CR (old Mac)", "mixed": "mixed"}
_DELIMITERS = {",": "comma ,", ";": "semicolon ;", "\t": "tab", "|": "pipe |"}


@register.filter
def line_ending(value) -> str:
    return _LINE_ENDINGS.get(value, value or "—")


@register.filter
def delimiter_name(value) -> str:
    return _DELIMITERS.get(value, repr(value) if value else "—")


@register.filter
def host_only(url) -> str:
    """A URL shown by scheme and host only: its path or query may carry a token."""
    from etlportal.netcheck import scheme_and_host

    return scheme_and_host(url)
