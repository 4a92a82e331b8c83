"""faces' endpoints, included under /api/ by idolsite/api_urls.py (namespace ``api``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from faces.api import DetectView, PhotoViewSet, SourceViewSet

router = SimpleRouter()
router.register("photos", PhotoViewSet, basename="photo")
router.register("sources", SourceViewSet, basename="source")

urlpatterns = [
    path("detect/", DetectView.as_view(), name="detect"),
    *router.urls,
]
