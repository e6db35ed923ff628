from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from etlportal import health
from jobs.urls import dbt_urlpatterns, pipeline_urlpatterns, schedule_urlpatterns, wizard_urlpatterns
from runs.views import dashboard

admin.site.site_header = "ETL Portal administration"
admin.site.site_title = "ETL Portal admin"

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("new/", include(wizard_urlpatterns)),
    path("jobs/", include("jobs.urls")),
    path("pipelines/", include((pipeline_urlpatterns, "pipelines"))),
    path("dbt/", include((dbt_urlpatterns, "dbt"))),
    path("schedules/", include((schedule_urlpatterns, "schedules"))),
    path("runs/", include("runs.urls")),
    path("credentials/", include("credentials.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("api/", include("etlportal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
