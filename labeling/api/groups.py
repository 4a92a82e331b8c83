"""Groups and memberships: viewers read, admins write."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import CursorPage, IdLookupMixin, NameCursorPage
from labeling import services
from labeling.filters import MembershipFilter
from labeling.models import IdolGroup, Membership
from labeling.serializers import (
    GroupSerializer,
    GroupWriteSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
)


class GroupViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Idol groups, by name. A group with memberships cannot be deleted (409 ``in_use``)."""

    queryset = IdolGroup.objects.all()
    serializer_class = GroupSerializer
    pagination_class = NameCursorPage
    required = {
        "list": "labeling.view_idolgroup",
        "retrieve": "labeling.view_idolgroup",
        "create": "labeling.add_idolgroup",
        "partial_update": "labeling.change_idolgroup",
        "destroy": "labeling.delete_idolgroup",
    }

    @extend_schema(summary="Groups by name")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(GroupSerializer(page, many=True).data)

    @extend_schema(summary="One group")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(GroupSerializer(self.get_object()).data)

    @extend_schema(summary="A new group", request=GroupWriteSerializer, responses={201: GroupSerializer})
    def create(self, request: Request) -> Response:
        data = GroupWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_create(**data.validated_data)
        return Response(GroupSerializer(group).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a group (its members' search follows a new name)",
        request=GroupWriteSerializer(partial=True),
        responses=GroupSerializer,
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        group = self.get_object()
        data = GroupWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(GroupSerializer(services.group_update(group=group, **data.validated_data)).data)

    @extend_schema(summary="Delete a group nobody was ever in", responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.group_delete(group=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipViewSet(IdLookupMixin, viewsets.GenericViewSet):
    """Who is (or was) in which group. ``left`` set ends a membership; at most one open
    membership per idol and group (409 ``duplicate``)."""

    queryset = Membership.objects.select_related("idol", "group")
    serializer_class = MembershipSerializer
    pagination_class = CursorPage
    filterset_class = MembershipFilter
    required = {
        "list": "labeling.view_membership",
        "retrieve": "labeling.view_membership",
        "create": "labeling.add_membership",
        "partial_update": "labeling.change_membership",
        "destroy": "labeling.delete_membership",
    }

    @extend_schema(summary="Memberships, newest first")
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(summary="One membership")
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(MembershipSerializer(self.get_object()).data)

    @extend_schema(
        summary="An idol joins a group", request=MembershipCreateSerializer, responses={201: MembershipSerializer}
    )
    def create(self, request: Request) -> Response:
        data = MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(**data.validated_data)
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Correct dates or notes; a `left` date ends it",
        request=MembershipUpdateSerializer,
        responses=MembershipSerializer,
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        membership = self.get_object()
        data = MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            MembershipSerializer(services.membership_update(membership=membership, **data.validated_data)).data
        )

    @extend_schema(summary="Delete a membership entered by mistake", responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.membership_delete(membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
