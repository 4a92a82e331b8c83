from django.urls import path

from classifier import views

app_name = "classifier"

urlpatterns = [
    path("classifier/runs/", views.run_list, name="run_list"),
    path("classifier/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("classifier/runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("classifier/models/<int:pk>/<str:name>", views.version_image, name="version_image"),
]
