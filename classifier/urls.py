from django.urls import path

from classifier.views import review, runs

app_name = "classifier"

urlpatterns = [
    path("classifier/runs/", runs.run_list, name="run_list"),
    path("classifier/runs/start/", runs.run_start, name="run_start"),
    path("classifier/runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("classifier/runs/<int:pk>/cancel/", runs.run_cancel, name="run_cancel"),
    path("classifier/models/<int:pk>/activate/", runs.version_activate, name="version_activate"),
    path("classifier/models/<int:pk>/unpin/", runs.version_unpin, name="version_unpin"),
    path("classifier/models/<int:pk>/<str:name>", runs.version_image, name="version_image"),
    # active learning: the review page and its JSON actions, the clusters
    path("review/", review.review, name="review"),
    path("review/api/accept/", review.accept, name="review-accept"),
    path("review/api/reject/", review.reject, name="review-reject"),
    path("review/api/unreject/", review.unreject, name="review-unreject"),
    path("review/clusters/", review.cluster_list, name="clusters"),
    path("review/clusters/rebuild/", review.cluster_rebuild, name="cluster-rebuild"),
    path("review/clusters/<int:pk>/name/", review.cluster_name, name="cluster-name"),
    path("review/clusters/<int:pk>/split/", review.cluster_split, name="cluster-split"),
]
