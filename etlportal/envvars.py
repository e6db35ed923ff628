"""Reading environment variables: one rule for what counts as "on"."""

from __future__ import annotations

import os

TRUE_WORDS = {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool = False, environ=os.environ) -> bool:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in TRUE_WORDS
