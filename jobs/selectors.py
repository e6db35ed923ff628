"""Access checks: one helper per resource, used by API, pages and admin alike."""

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import OuterRef, Subquery

from jobs.models import DbtProject, Job, Pipeline, Schedule, Upload, WizardDraft
from runs.models import JobRun


def _visible(queryset, user, pk):
    if not user or not user.is_authenticated:
        return None
    try:
        return queryset.visible_to(user).get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        return None


def get_job_for_user(user, job_id) -> Job | None:
    """A saved job (never a wizard's draft one) the user may see."""
    return _visible(Job.objects.filter(is_draft=False).select_related("destination", "source"), user, job_id)


def get_upload_for_user(user, upload_id) -> Upload | None:
    return _visible(Upload.objects.all(), user, upload_id)


def get_draft_for_user(user, draft_id) -> WizardDraft | None:
    return _visible(WizardDraft.objects.select_related("upload", "job", "trial_job"), user, draft_id)


def get_pipeline_for_user(user, pipeline_id) -> Pipeline | None:
    return _visible(Pipeline.objects.all(), user, pipeline_id)


def get_dbt_project_for_user(user, project_id) -> DbtProject | None:
    return _visible(DbtProject.objects.select_related("credential"), user, project_id)


def get_schedule_for_user(user, schedule_id) -> Schedule | None:
    return _visible(Schedule.objects.select_related("job", "pipeline"), user, schedule_id)


def latest_run_id(owner_field: str, **filters) -> Subquery:
    """The pk of the newest run (matching filters) whose owner_field is the row: annotate a
    queryset of jobs or schedules with it as last_run_id, then fetch the runs with last_runs()."""
    runs = JobRun.objects.filter(**{owner_field: OuterRef("pk")}, **filters)
    return Subquery(runs.order_by("-created_at", "-pk").values("pk")[:1])


def last_runs(rows) -> dict[int, JobRun]:
    """Each row's last run (rows annotated with latest_run_id), by the row's pk: one query."""
    runs = JobRun.objects.in_bulk([row.last_run_id for row in rows if row.last_run_id is not None])
    return {row.pk: runs[row.last_run_id] for row in rows if row.last_run_id in runs}


def schedules_with_last_run(user) -> list[tuple[Schedule, JobRun | None]]:
    """The user's schedules, each with its last run (or None): two queries whatever their number."""
    schedules = list(
        Schedule.objects.visible_to(user)
        .select_related("job", "pipeline")
        .annotate(last_run_id=latest_run_id("schedule"))
    )
    runs = last_runs(schedules)
    return [(schedule, runs.get(schedule.pk)) for schedule in schedules]
