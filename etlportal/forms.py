"""Form pieces shared by the pages of every app (saving always goes through a service)."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError


class ServiceErrorsMixin:
    """Puts a service's ValidationError on the form: under its field when the form has one."""

    def add_service_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                target = field if field in self.fields else None
                for error in errors:
                    self.add_error(target, error.messages)
        else:
            self.add_error(None, exc.messages)


class EmailListField(forms.CharField):
    """E-mail addresses typed one per line or separated by commas, as a list (validated by the service)."""

    widget = forms.Textarea(attrs={"rows": 2, "placeholder": "oncall@example.com, data-team@example.com"})

    def to_python(self, value) -> list[str]:
        return [part for part in re.split(r"[\s,;]+", super().to_python(value) or "") if part]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value
