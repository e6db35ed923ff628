"""Access checks: one helper per resource, used by API, pages and the websocket consumer."""

from django.core.exceptions import ObjectDoesNotExist

from runs.models import JobRun


def get_run_for_user(user, run_id: int) -> JobRun | None:
    if not user or not user.is_authenticated:
        return None
    try:
        return JobRun.objects.visible_to(user).select_related("job").get(pk=run_id)
    except ObjectDoesNotExist:
        return None


def top_level_runs(user):
    """The runs a user sees in lists: loads, dbt commands and pipelines; not a pipeline's steps
    (its timeline shows them), not the wizard's trial runs."""
    return JobRun.objects.visible_to(user).filter(parent__isnull=True).exclude(job__is_draft=True)
