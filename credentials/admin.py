from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from credentials import services
from credentials.models import Credential


class CredentialAdminForm(forms.ModelForm):
    # Write-only: the stored password is never rendered; blank keeps it.
    new_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown. Leave blank to keep the current password.",
    )

    class Meta:
        model = Credential
        fields = ["name", "kind", "host", "port", "database", "username", "sslmode", "extra_options", "owner"]

    def _post_clean(self):
        super()._post_clean()
        # The service's rules, shown next to the fields instead of failing on save.
        try:
            services.credential_validate(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    form = CredentialAdminForm
    list_display = ["name", "kind", "host", "port", "database", "username", "owner", "updated_at"]
    list_filter = ["kind", "sslmode", "owner"]
    search_fields = ["name", "host", "database", "username", "owner__username"]
    readonly_fields = ["has_password", "created_at", "updated_at"]
    fields = [
        "name",
        "kind",
        "host",
        "port",
        "database",
        "username",
        "new_password",
        "has_password",
        "sslmode",
        "extra_options",
        "owner",
        "created_at",
        "updated_at",
    ]
    actions = ["test_connection"]

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(boolean=True, description="Password set")
    def has_password(self, obj):
        return obj.has_password

    @method_decorator(sensitive_post_parameters("new_password"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # The form ran credential_validate already; the service validates again and saves.
        data = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS}
        password = form.cleaned_data.get("new_password") or None
        if change:
            services.credential_update(credential=obj, password=password, **data)
        else:
            saved = services.credential_create(owner=form.cleaned_data["owner"], password=password or "", **data)
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.credential_delete(credential=obj)

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for credential in queryset:
            result = services.credential_test(credential=credential)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{credential.name}: {result.message}", level)
