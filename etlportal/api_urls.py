from django.urls import path
from rest_framework.routers import DefaultRouter

from credentials.api import CredentialViewSet
from jobs.api import JobViewSet, UploadViewSet
from jobs.pipeline_api import DbtProjectViewSet, PipelineViewSet, ScheduleViewSet
from runs.api import RunViewSet

router = DefaultRouter()
router.register("credentials", CredentialViewSet, basename="credential")
router.register("uploads", UploadViewSet, basename="upload")
router.register("jobs", JobViewSet, basename="job")
router.register("runs", RunViewSet, basename="run")
router.register("dbt-projects", DbtProjectViewSet, basename="dbt-project")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("schedules", ScheduleViewSet, basename="schedule")

urlpatterns = router.urls + [
    path("", router.get_api_root_view(), name="api-root"),
]
