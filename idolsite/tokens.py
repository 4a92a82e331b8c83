"""API tokens: one per user (DRF's authtoken). Obtain it with a username and password, see
it, revoke it (delete); a new one can be obtained after that."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from idolsite.permissions import PUBLIC, signed_in


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(source="key", help_text="Send it as `Authorization: Token <token>`.")
    created = serializers.DateTimeField()
    username = serializers.CharField(source="user.username")


class TokenInfoSerializer(serializers.Serializer):
    prefix = serializers.SerializerMethodField(help_text="The first 8 characters of the token.")
    created = serializers.DateTimeField()

    def get_prefix(self, token: Token) -> str:
        return token.key[:8]


@transaction.atomic
def token_obtain(*, user) -> Token:  # type: ignore[no-untyped-def]
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def token_revoke(*, user) -> int:  # type: ignore[no-untyped-def]
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


class TokenView(APIView):
    """``POST`` a username and password: your token (the same one until you revoke it).
    ``GET``: your tokens (the key's first characters only). ``DELETE``: revoke your token."""

    required = {"post": PUBLIC, "get": signed_in, "delete": signed_in}
    throttle_classes = [AnonRateThrottle, UserRateThrottle]

    def get_authenticators(self):  # type: ignore[no-untyped-def]
        # Signing in with a password must work even when a stale token header is sent.
        if self.request is not None and self.request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema(request=TokenObtainSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        data = TokenObtainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        if user is None or not user.is_active:
            raise serializers.ValidationError({"non_field_errors": ["wrong username or password"]})
        return Response(TokenSerializer(token_obtain(user=user)).data)

    @extend_schema(responses={200: TokenInfoSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(TokenInfoSerializer(Token.objects.filter(user=request.user), many=True).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
