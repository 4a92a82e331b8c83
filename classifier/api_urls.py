"""classifier's endpoints, included under /api/ by idolsite/api_urls.py (namespace ``api``)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from classifier.api import suggestions
from classifier.api.recognition import RecognizeView
from classifier.api.runs import ModelVersionViewSet, TrainingRunViewSet

router = SimpleRouter()
router.register("training-runs", TrainingRunViewSet, basename="trainingrun")
router.register("model-versions", ModelVersionViewSet, basename="modelversion")

urlpatterns = [
    path("recognize/", RecognizeView.as_view(), name="recognize"),
    # active learning: suggestions (by idol and mode; accept, reject, in bulk) and clusters
    path("suggestions/", suggestions.SuggestionListView.as_view(), name="suggestions"),
    path("suggestions/for-faces/", suggestions.FaceSuggestionsView.as_view(), name="suggestions-for-faces"),
    path("suggestions/accept/", suggestions.SuggestionAcceptView.as_view(), name="suggestions-accept"),
    path("suggestions/reject/", suggestions.SuggestionRejectView.as_view(), name="suggestions-reject"),
    path("suggestions/stats/", suggestions.SuggestionStatsView.as_view(), name="suggestions-stats"),
    path("clusters/", suggestions.ClusterListView.as_view(), name="clusters"),
    path("clusters/<int:pk>/name/", suggestions.ClusterNameView.as_view(), name="cluster-name"),
    path("clusters/<int:pk>/split/", suggestions.ClusterSplitView.as_view(), name="cluster-split"),
    *router.urls,
]
