"""Idols: the list and the typeahead (``?q=``), one idol, create (labelers), update, graduate,
retire, restore, rename and merge (admins)."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import IdLookupMixin, NameCursorPage
from labeling import roles, search, selectors, services
from labeling.api.faces import similar_answer
from labeling.filters import IdolFilter
from labeling.models import Idol, Membership
from labeling.serializers import (
    GraduateSerializer,
    IdolCreateSerializer,
    IdolHitSerializer,
    IdolSerializer,
    IdolSimilarQuerySerializer,
    IdolUpdateSerializer,
    MergeSerializer,
    RenameSerializer,
    SimilarResultSerializer,
)

TYPEAHEAD_DEFAULT, TYPEAHEAD_MAX = 15, 50


def _hits(idols: list[Idol]) -> list[search.IdolHit]:
    return [
        search.IdolHit(
            id=idol.pk,
            name=idol.name,
            reading=idol.reading,
            status=idol.deletion_reason or "active",
            rank=0,
            groups=[m.group.name for m in idol.current_memberships],
            faces=idol.n_faces,
        )
        for idol in idols
    ]


class IdolViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Viewers read; labelers create (as from the picker); admins update, graduate, retire,
    restore, rename and merge."""

    queryset = Idol.all_objects.all()
    serializer_class = IdolSerializer
    pagination_class = NameCursorPage
    filterset_class = IdolFilter
    required = {
        "list": roles.can_view,
        "retrieve": roles.can_view,
        "similar": roles.can_view,
        "create": roles.can_create_idol,
        "partial_update": roles.can_manage_idols,
        "graduate": roles.can_manage_idols,
        "retire": roles.can_manage_idols,
        "restore": roles.can_manage_idols,
        "rename": roles.can_manage_idols,
        "merge": roles.can_manage_idols,
    }

    def _detail(self, idol: Idol, code: int = status.HTTP_200_OK) -> Response:
        return Response(IdolSerializer(selectors.idol_detail(idol.pk)).data, status=code)

    @extend_schema(
        summary="Idols by name, or the typeahead's ranked matches with ?q=",
        responses=IdolHitSerializer(many=True),
        description="With `q`: the typeahead (name, reading, alias, old name, handle or group; kana, width "
        "and case folded), best first, `size` of them (default 15, at most 50), no `next`. Without: every "
        "idol by name, cursor-paginated. `deleted=1` adds graduated and retired idols (and, without `q`, "
        "merged ones).",
    )
    def list(self, request: Request) -> Response:
        filterset = IdolFilter(request.query_params, queryset=Idol.all_objects.all(), request=request)
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        include_deleted = bool(filterset.form.cleaned_data.get("deleted"))
        query = filterset.form.cleaned_data.get("q") or ""
        if query.strip():
            limit = _typeahead_size(request)
            hits = search.idol_search(query, include_deleted=include_deleted, limit=limit)
            if filterset.form.cleaned_data.get("group"):
                allowed = set(filterset.qs.filter(pk__in=[h.id for h in hits]).values_list("pk", flat=True))
                hits = [h for h in hits if h.id in allowed]
            return Response({"next": None, "previous": None, "results": IdolHitSerializer(hits, many=True).data})
        idols: QuerySet[Idol] = filterset.qs
        if not include_deleted:
            idols = idols.filter(deleted_at__isnull=True)
        idols = idols.annotate(n_faces=Count("labels")).prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(left__isnull=True).select_related("group").order_by("joined", "id"),
                to_attr="current_memberships",
            )
        )
        page = self.paginate_queryset(idols)
        return self.get_paginated_response(IdolHitSerializer(_hits(page), many=True).data)

    @extend_schema(summary="One idol: names, aliases, handles, groups, label counts")
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self.get_object())

    @extend_schema(
        summary="Her in other photos: faces nearest to her labeled faces, not labeled her",
        parameters=[IdolSimilarQuerySerializer],
        responses={200: SimilarResultSerializer},
        description="Visible faces not labeled her (`unlabeled=1`: labeled nobody), ranked by the "
        "distance to her nearest labeled face, none farther than IDOLSITE_SIMILAR_MAX_DISTANCE. "
        "Empty when she has no labeled face; 409 `no_embeddings` when none of them has a vector yet.",
    )
    @action(detail=True, methods=["get"])
    def similar(self, request: Request, pk: str) -> Response:
        idol = self.get_object()
        query = IdolSimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        max_distance = settings.IDOLSITE_SIMILAR_MAX_DISTANCE
        found = selectors.idol_similar(
            idol=idol,
            limit=query.validated_data["limit"],
            max_distance=max_distance,
            unlabeled_only=query.validated_data["unlabeled"],
        )
        return Response(similar_answer(found, max_distance=max_distance, context=self.get_serializer_context()))

    @extend_schema(
        summary="A new idol",
        request=IdolCreateSerializer,
        responses={201: IdolSerializer},
        description="A name that folds to an existing idol's name, reading, alias or old name (graduated "
        "idols too) is refused: 400 `duplicate_idol` with `existing` (her id), `matches` and a `hint`, "
        "unless `same_name_ok` says she is another person with the same name.",
    )
    def create(self, request: Request) -> Response:
        data = IdolCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        idol = services.idol_create(**data.validated_data)
        return self._detail(idol, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change reading, handles, notes or aliases (the name: rename)",
        request=IdolUpdateSerializer,
        responses=IdolSerializer,
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        idol = self.get_object()
        data = IdolUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._detail(services.idol_update(idol=idol, **data.validated_data))

    @extend_schema(
        summary="Graduate (or retire): she leaves the typeahead, her labels stay, she is still recognized",
        request=GraduateSerializer,
        responses=IdolSerializer,
    )
    @action(detail=True, methods=["post"])
    def graduate(self, request: Request, pk: str) -> Response:
        idol = self.get_object()
        data = GraduateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._detail(
            services.idol_soft_delete(idol=idol, reason=data.validated_data["reason"], user=request.user)
        )

    @extend_schema(summary="Retire: graduate with the reason 'retired'", request=None, responses=IdolSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str) -> Response:
        idol = self.get_object()
        return self._detail(services.idol_soft_delete(idol=idol, reason=Idol.DeletionReason.RETIRED, user=request.user))

    @extend_schema(summary="Bring back a graduated or retired idol", request=None, responses=IdolSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        return self._detail(services.idol_restore(idol=self.get_object(), user=request.user))

    @extend_schema(
        summary="Rename: the old name becomes an alias",
        request=RenameSerializer,
        responses=IdolSerializer,
        description="Onto another idol's name: 400 `duplicate_idol` with `existing` and `merge` "
        '(`{"idol": this one, "into": existing}`: POST /api/idols/{idol}/merge/ with `{"into": existing}` '
        "if they are one person), unless `same_name_ok` says they are two people.",
    )
    @action(detail=True, methods=["post"])
    def rename(self, request: Request, pk: str) -> Response:
        idol = self.get_object()
        data = RenameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.idol_rename(
            idol=idol,
            name=data.validated_data["name"],
            reading=data.validated_data.get("reading"),
            user=request.user,
            same_name_ok=data.validated_data["same_name_ok"],
        )
        return self._detail(done)

    @extend_schema(
        summary="Merge this idol into another (two records of one person)",
        request=MergeSerializer,
        responses=IdolSerializer,
        description="Answers the idol who stays. Every label, alias, handle and membership moves to her.",
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        idol = self.get_object()
        data = MergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._detail(services.idol_merge(keep=data.validated_data["into"], drop=idol, user=request.user))


def _typeahead_size(request: Request) -> int:
    size = request.query_params.get("size")
    if size is None:
        return TYPEAHEAD_DEFAULT
    if not (size.isdigit() and 1 <= int(size) <= TYPEAHEAD_MAX):
        message = gettext("a whole number from 1 to %(max)s") % {"max": TYPEAHEAD_MAX}
        raise serializers.ValidationError({"size": [message]})
    return int(size)
