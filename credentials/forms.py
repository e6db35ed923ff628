"""The credential form of the pages (the wizard's inline one too). Saving goes through the services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from credentials.models import CredentialKind, SSLMode
from credentials.services import EDITABLE_FIELDS
from etlportal.forms import ServiceErrorsMixin


class CredentialForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=CredentialKind.choices, initial=CredentialKind.POSTGRESQL)
    host = forms.CharField(max_length=255, required=False, help_text="Not for DuckDB.")
    port = forms.IntegerField(required=False, min_value=1, max_value=65535, help_text="Empty: the usual port.")
    database = forms.CharField(
        max_length=1024, help_text="Database name; for DuckDB a file name such as warehouse.duckdb."
    )
    username = forms.CharField(max_length=255, required=False)
    # Never rendered with its value: secrets are write-only.
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    )
    sslmode = forms.ChoiceField(choices=SSLMode.choices, initial=SSLMode.PREFER, required=False)
    extra_options = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='Driver options as JSON, e.g. {"connect_timeout": 5}. No secrets here.',
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["password"].help_text = "Leave blank to keep the stored password."
            self.fields["password"].label = "Change password"

    def clean_extra_options(self) -> dict:
        text = self.cleaned_data.get("extra_options", "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(value, dict):
            raise ValidationError('An object of options, e.g. {"connect_timeout": 5}.')
        return value

    def service_fields(self) -> dict[str, Any]:
        """The cleaned fields as credential_create/credential_update take them."""
        data = self.cleaned_data
        fields = {name: data.get(name) for name in EDITABLE_FIELDS}
        fields["sslmode"] = fields["sslmode"] or SSLMode.PREFER
        fields["host"] = fields["host"] or ""
        fields["username"] = fields["username"] or ""
        password = data.get("password") or ""
        fields["password"] = (password or None) if self.editing else password
        return fields
