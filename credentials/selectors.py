"""Access checks: one helper per resource, used by API, pages and admin alike."""

from django.core.exceptions import ObjectDoesNotExist

from credentials.models import Credential


def get_credential_for_user(user, credential_id) -> Credential | None:
    if not user or not user.is_authenticated:
        return None
    try:
        return Credential.objects.visible_to(user).get(pk=credential_id)
    except (ObjectDoesNotExist, ValueError, TypeError):
        return None
