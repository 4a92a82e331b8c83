"""labeling's endpoints, included under /api/ by idolsite/api_urls.py (namespace ``api``)."""

from rest_framework.routers import SimpleRouter

from labeling.api.events import LabelEventViewSet
from labeling.api.exports import ExportViewSet
from labeling.api.faces import FaceViewSet
from labeling.api.groups import GroupViewSet, MembershipViewSet
from labeling.api.idols import IdolViewSet
from labeling.api.photos import PhotoViewSet

router = SimpleRouter()
router.register("photos", PhotoViewSet, basename="photo")  # faces' photos with their labels
router.register("faces", FaceViewSet, basename="face")
router.register("idols", IdolViewSet, basename="idol")
router.register("groups", GroupViewSet, basename="group")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("label-events", LabelEventViewSet, basename="labelevent")
router.register("exports", ExportViewSet, basename="datasetexport")  # dataset exports and their archives

urlpatterns = router.urls
