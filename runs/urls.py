from django.urls import path

from runs import views

app_name = "runs"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/cancel/", views.run_stop, name="cancel"),
    path("<int:pk>/retry/", views.run_retry, name="retry"),
    path("<int:pk>/rejects.csv", views.run_rejects, name="rejects"),
]
