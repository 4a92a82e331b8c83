from django.urls import path

from faces.api import DetectView

app_name = "faces"

urlpatterns = [
    path("detect/", DetectView.as_view(), name="detect"),
]
