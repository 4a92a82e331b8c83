"""``POST /api/recognize/``: who is on this image? For a "who is this?" bot. And the active
learning endpoints (issue 7): suggestions by idol and mode, accept and reject in bulk, clusters."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from classifier import clusters, recognition, suggestions
from classifier.models import FaceCluster, ModelVersion
from classifier.serializers import (
    ClusterOutput,
    FaceOutput,
    FacesIdolInput,
    IdolInput,
    RecognizeInput,
    SplitInput,
    SuggestionOutput,
    SuggestionQueryInput,
)
from faces.errors import DomainError
from idolsite.api import error_body
from labeling.models import Idol


class RecognizeView(APIView):
    """Send an image (multipart field ``image``) or its address (``url``). Answers each face's
    box and its top idols with probabilities; ``unknown`` when the best is under the threshold.
    409 when no model is active yet, 400 for a bad image or URL."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "recognize"

    def post(self, request: Request) -> Response:
        given = RecognizeInput(data=request.data)
        given.is_valid(raise_exception=True)
        version = ModelVersion.objects.active()
        if version is None:
            return _no_model("no active model: train one first (manage.py train)")
        try:
            if given.validated_data.get("url"):
                data = recognition.fetch_image(given.validated_data["url"])
            else:
                data = given.validated_data["image"].read()
            faces = recognition.recognize(data, top=given.validated_data["top"])
        except recognition.NoActiveModel as exc:
            return _no_model(str(exc))
        return Response(
            {
                "model": {"id": version.pk, "val_top1": version.val_top1, "created_at": version.created_at},
                "threshold": settings.IDOLSITE_UNKNOWN_THRESHOLD,
                "faces": FaceOutput(faces, many=True).data,
            }
        )


def _no_model(message: str) -> Response:
    return Response(error_body("no_model", message), status=status.HTTP_409_CONFLICT)


# --- active learning (issue 7) ---------------------------------------------------------------


class CanView(BasePermission):
    """Reads for viewers; writes (POST) for labelers (labeling.roles)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        from labeling import roles

        if request.method in SAFE_METHODS:
            return roles.can_view(request.user)
        return roles.can_label(request.user)


def _idol(idol_id: int | None) -> Idol | None:
    if idol_id is None:
        return None
    idol = Idol.all_objects.filter(pk=idol_id).first()
    if idol is None:
        raise DomainError("no such idol", code="not_found", field="idol")
    return idol


class SuggestionListView(APIView):
    """``GET /api/suggestions/?idol=&mode=&cursor=&limit=``: open suggestions of the active
    model in the mode's order (confident, uncertain, margin, mistakes)."""

    permission_classes = [CanView]

    def get(self, request: Request) -> Response:
        given = SuggestionQueryInput(data=request.query_params)
        given.is_valid(raise_exception=True)
        q = given.validated_data
        version = ModelVersion.objects.active()
        rows = suggestions.suggestions_for(mode=q["mode"], idol=_idol(q.get("idol")), version=version)
        page = list(rows[q["cursor"] : q["cursor"] + q["limit"] + 1])
        more = len(page) > q["limit"]
        return Response(
            {
                "model": version.pk if version else None,
                "mode": q["mode"],
                "next_cursor": q["cursor"] + q["limit"] if more else None,
                "results": SuggestionOutput(page[: q["limit"]], many=True).data,
            }
        )


class SuggestionAcceptView(APIView):
    """``POST /api/suggestions/accept/ {"faces": [...], "idol": id, "replace": false}``: label
    the faces (with ``idol``, or each with its suggested idol); one batch."""

    permission_classes = [CanView]

    def post(self, request: Request) -> Response:
        given = FacesIdolInput(data=request.data)
        given.is_valid(raise_exception=True)
        d = given.validated_data
        batch = suggestions.suggestions_accept(
            faces=d["faces"], idol=_idol(d.get("idol")), user=request.user, replace=d["replace"]
        )
        return Response({"batch": str(batch), "accepted": len(set(d["faces"]))})


class SuggestionRejectView(APIView):
    """``POST /api/suggestions/reject/ {"faces": [...], "idol": id}``: not this idol (each
    face's suggested one without ``idol``); remembered forever."""

    permission_classes = [CanView]

    def post(self, request: Request) -> Response:
        given = FacesIdolInput(data=request.data)
        given.is_valid(raise_exception=True)
        d = given.validated_data
        count = suggestions.suggestions_reject(faces=d["faces"], idol=_idol(d.get("idol")), user=request.user)
        return Response({"rejected": count})


class SuggestionStatsView(APIView):
    """``GET /api/suggestions/stats/``: accepted, rejected and the calibration table."""

    permission_classes = [CanView]

    def get(self, request: Request) -> Response:
        return Response(suggestions.review_stats().as_json())


class ClusterListView(APIView):
    """``GET /api/clusters/``: open clusters of unknown faces, biggest first."""

    permission_classes = [CanView]

    def get(self, request: Request) -> Response:
        found = clusters.open_clusters()[:200]
        return Response({"results": ClusterOutput(found, many=True).data})


class ClusterNameView(APIView):
    """``POST /api/clusters/{id}/name/ {"idol": id}``: label every face of the cluster."""

    permission_classes = [CanView]

    def post(self, request: Request, pk: int) -> Response:
        given = IdolInput(data=request.data)
        given.is_valid(raise_exception=True)
        cluster = get_object_or_404(FaceCluster, pk=pk)
        batch = clusters.cluster_name(cluster=cluster, idol=_idol(given.validated_data["idol"]), user=request.user)
        return Response({"batch": str(batch)})


class ClusterSplitView(APIView):
    """``POST /api/clusters/{id}/split/ {"faces": [...]}``: the faces move to a new cluster;
    with none, the cluster is clustered again more finely."""

    permission_classes = [CanView]

    def post(self, request: Request, pk: int) -> Response:
        given = SplitInput(data=request.data)
        given.is_valid(raise_exception=True)
        cluster = get_object_or_404(FaceCluster, pk=pk)
        result = clusters.cluster_split(cluster=cluster, faces=given.validated_data["faces"] or None, user=request.user)
        return Response({"clusters": [c.pk for c in result]})
