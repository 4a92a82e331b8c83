"""faces' endpoints, included under /api/ by idolsite/api_urls.py (namespace ``api``). Photos are
served by an app built on faces, with its part of each face (labeling/api_urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from faces.api import DetectView, SourceViewSet

router = SimpleRouter()
router.register("sources", SourceViewSet, basename="source")

urlpatterns = [
    path("detect/", DetectView.as_view(), name="detect"),
    *router.urls,
]
