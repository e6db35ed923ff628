from django.urls import path

from credentials import views

app_name = "credentials"

urlpatterns = [
    path("", views.credential_list, name="list"),
    path("new/", views.credential_new, name="new"),
    path("<int:pk>/", views.credential_detail, name="detail"),
    path("<int:pk>/edit/", views.credential_edit, name="edit"),
    path("<int:pk>/delete/", views.credential_remove, name="delete"),
    path("<int:pk>/test/", views.credential_check, name="test"),
    path("<int:pk>/browse/", views.credential_tables, name="browse"),
]
