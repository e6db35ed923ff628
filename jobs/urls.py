from django.urls import path

from jobs import pipeline_views, schedule_views, views, wizard_views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/run/", views.job_run, name="run"),
    path("<int:pk>/edit/", views.job_edit, name="edit"),
    path("<int:pk>/duplicate/", views.job_copy, name="duplicate"),
    path("<int:pk>/delete/", views.job_remove, name="delete"),
    path("<int:pk>/alerts/", pipeline_views.job_alerts, name="alerts"),
]

pipeline_urlpatterns = [
    path("", pipeline_views.pipeline_list, name="list"),
    path("new/", pipeline_views.pipeline_new, name="new"),
    path("<int:pk>/", pipeline_views.pipeline_detail, name="detail"),
    path("<int:pk>/edit/", pipeline_views.pipeline_edit, name="edit"),
    path("<int:pk>/run/", pipeline_views.pipeline_run, name="run"),
    path("<int:pk>/delete/", pipeline_views.pipeline_remove, name="delete"),
]

dbt_urlpatterns = [
    path("", pipeline_views.dbt_list, name="list"),
    path("new/", pipeline_views.dbt_new, name="new"),
    path("<int:pk>/", pipeline_views.dbt_detail, name="detail"),
    path("<int:pk>/edit/", pipeline_views.dbt_edit, name="edit"),
    path("<int:pk>/delete/", pipeline_views.dbt_remove, name="delete"),
]

schedule_urlpatterns = [
    path("", schedule_views.schedule_list, name="list"),
    path("new/", schedule_views.schedule_new, name="new"),
    path("describe/", schedule_views.schedule_describe, name="describe"),
    path("<int:pk>/", schedule_views.schedule_edit, name="edit"),
    path("<int:pk>/toggle/", schedule_views.schedule_toggle, name="toggle"),
    path("<int:pk>/delete/", schedule_views.schedule_remove, name="delete"),
]

# The "New load" wizard: one URL per step (the step's name in the path), and its fragments.
wizard_urlpatterns = [
    path("", wizard_views.upload, name="wizard-upload"),
    path("<int:pk>/preview/", wizard_views.preview_page, name="wizard-preview"),
    path("<int:pk>/scan/", wizard_views.scan_status, name="wizard-scan"),
    path("<int:pk>/browse/", wizard_views.browse, name="wizard-browse"),
    path("<int:pk>/test/", wizard_views.test_destination, name="wizard-test"),
    path("<int:pk>/new-destination/", wizard_views.new_destination, name="wizard-new-destination"),
    path("<int:pk>/mapping/preview/", wizard_views.mapping_preview, name="wizard-mapping-preview"),
    path("<int:pk>/mapping/row/", wizard_views.mapping_row, name="wizard-mapping-row"),
    path("<int:pk>/dry-run/", wizard_views.dry_run, name="wizard-dry-run"),
    path("<int:pk>/dry-run/<int:run_id>/", wizard_views.dry_run_status, name="wizard-dry-run-status"),
    path("<int:pk>/<slug:step>/", wizard_views.step, name="wizard-step"),
]
