"""classifier's endpoints, included under /api/ by idolsite/api_urls.py (namespace ``api``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from classifier.api import RecognizeView
from classifier.api_runs import ModelVersionViewSet, TrainingRunViewSet

router = SimpleRouter()
router.register("training-runs", TrainingRunViewSet, basename="trainingrun")
router.register("model-versions", ModelVersionViewSet, basename="modelversion")

urlpatterns = [
    path("recognize/", RecognizeView.as_view(), name="recognize"),
    *router.urls,
]
