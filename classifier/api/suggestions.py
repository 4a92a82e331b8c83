"""Active learning under /api/: suggestions by idol and mode, accept and reject in bulk, clusters
of unknown faces (name, split)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier import selectors, services
from classifier.models import FaceCluster, ModelVersion
from classifier.serializers import (
    ClusterOutput,
    FaceIdsQueryInput,
    FacesIdolInput,
    FaceSuggestionOutput,
    IdolInput,
    SplitInput,
    SuggestionOutput,
    SuggestionQueryInput,
)
from core.errors import NotFound
from labeling import roles
from labeling.models import Idol


def _idol(idol_id: int | None) -> Idol | None:
    if idol_id is None:
        return None
    idol = Idol.all_objects.filter(pk=idol_id).first()
    if idol is None:
        raise NotFound(gettext("no such idol"), field="idol")
    return idol


class SuggestionListView(APIView):
    """``GET /api/suggestions/?idol=&mode=&cursor=&limit=``: open suggestions of the active
    model in the mode's order (confident, uncertain, margin, mistakes)."""

    required = {"get": roles.can_view}

    @extend_schema(
        summary="Open suggestions of the active model, by idol and mode",
        parameters=[SuggestionQueryInput],
        responses=inline_serializer(
            "SuggestionPage",
            {
                "model": serializers.IntegerField(allow_null=True),
                "mode": serializers.CharField(),
                "next_cursor": serializers.IntegerField(allow_null=True),
                "results": SuggestionOutput(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        given = SuggestionQueryInput(data=request.query_params)
        given.is_valid(raise_exception=True)
        q = given.validated_data
        version = ModelVersion.objects.active()
        rows = selectors.suggestions_for(mode=q["mode"], idol=_idol(q.get("idol")), version=version)
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


class FaceSuggestionsView(APIView):
    """``GET /api/suggestions/for-faces/?faces=1,2,3``: the active model's top idols for each
    face of a page (the grid's, the photo page's) that is visible and unlabeled."""

    required = {"get": roles.can_view}

    @extend_schema(
        summary="Suggestions for the faces of a page: the top 3 idols of each unlabeled face",
        parameters=[FaceIdsQueryInput],
        responses=inline_serializer("FaceSuggestions", {"results": FaceSuggestionOutput(many=True)}),
    )
    def get(self, request: Request) -> Response:
        given = FaceIdsQueryInput(data=request.query_params)
        given.is_valid(raise_exception=True)
        found = selectors.face_suggestions(given.validated_data["faces"])
        return Response({"results": FaceSuggestionOutput(found, many=True).data})


class SuggestionAcceptView(APIView):
    """``POST /api/suggestions/accept/ {"faces": [...], "idol": id, "replace": false}``: label
    the faces (with ``idol``, or each with its suggested idol); one batch."""

    required = {"post": roles.can_label}

    @extend_schema(
        summary="Accept suggestions in bulk (labels, how: suggestion; one batch)",
        request=FacesIdolInput,
        responses=inline_serializer(
            "Accepted", {"batch": serializers.UUIDField(), "accepted": serializers.IntegerField()}
        ),
    )
    def post(self, request: Request) -> Response:
        given = FacesIdolInput(data=request.data)
        given.is_valid(raise_exception=True)
        d = given.validated_data
        batch = services.suggestions_accept(
            faces=d["faces"], idol=_idol(d.get("idol")), user=request.user, replace=d["replace"]
        )
        return Response({"batch": str(batch), "accepted": len(set(d["faces"]))})


class SuggestionRejectView(APIView):
    """``POST /api/suggestions/reject/ {"faces": [...], "idol": id}``: not this idol (each
    face's suggested one without ``idol``); remembered forever."""

    required = {"post": roles.can_label}

    @extend_schema(
        summary="Reject suggestions in bulk (never suggested again for that idol)",
        request=FacesIdolInput,
        responses=inline_serializer("Rejected", {"rejected": serializers.IntegerField()}),
    )
    def post(self, request: Request) -> Response:
        given = FacesIdolInput(data=request.data)
        given.is_valid(raise_exception=True)
        d = given.validated_data
        count = services.suggestions_reject(faces=d["faces"], idol=_idol(d.get("idol")), user=request.user)
        return Response({"rejected": count})


class SuggestionStatsView(APIView):
    """``GET /api/suggestions/stats/``: accepted, rejected and the calibration table."""

    required = {"get": roles.can_view}

    @extend_schema(
        summary="Accepted and rejected per model version, and the calibration table",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.review_stats().as_json())


class ClusterListView(APIView):
    """``GET /api/clusters/``: open clusters of unknown faces, biggest first."""

    required = {"get": roles.can_view}

    @extend_schema(
        summary="Open clusters of unknown faces, biggest first",
        responses=inline_serializer("ClusterList", {"results": ClusterOutput(many=True)}),
    )
    def get(self, request: Request) -> Response:
        found = selectors.open_clusters()[:200]
        return Response({"results": ClusterOutput(found, many=True).data})


class ClusterNameView(APIView):
    """``POST /api/clusters/{id}/name/ {"idol": id}``: label every face of the cluster."""

    required = {"post": roles.can_label}

    @extend_schema(
        summary="Name a whole cluster: label every face with the idol (one batch)",
        request=IdolInput,
        responses=inline_serializer("ClusterNamed", {"batch": serializers.UUIDField()}),
    )
    def post(self, request: Request, pk: int) -> Response:
        given = IdolInput(data=request.data)
        given.is_valid(raise_exception=True)
        cluster = get_object_or_404(FaceCluster, pk=pk)
        batch = services.cluster_name(cluster=cluster, idol=_idol(given.validated_data["idol"]), user=request.user)
        return Response({"batch": str(batch)})


class ClusterSplitView(APIView):
    """``POST /api/clusters/{id}/split/ {"faces": [...]}``: the faces move to a new cluster;
    with none, the cluster is clustered again more finely."""

    required = {"post": roles.can_label}

    @extend_schema(
        summary="Split a cluster: the faces given move to a new one; none given, cluster it more finely",
        request=SplitInput,
        responses=inline_serializer(
            "ClusterSplit", {"clusters": serializers.ListField(child=serializers.IntegerField())}
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        given = SplitInput(data=request.data)
        given.is_valid(raise_exception=True)
        cluster = get_object_or_404(FaceCluster, pk=pk)
        result = services.cluster_split(cluster=cluster, faces=given.validated_data["faces"] or None, user=request.user)
        return Response({"clusters": [c.pk for c in result]})
