"""API tokens (django-rest-knox): only a digest of each token is stored, so a copy of the
database signs in nobody. ``POST`` a username and password for a new token (shown once; earlier
tokens stay valid), ``GET`` your tokens by prefix, ``DELETE`` revokes. A token expires
``IDOLSITE_TOKEN_TTL_DAYS`` after its last use; a user keeps at most
``IDOLSITE_TOKENS_PER_USER`` (a new one retires the oldest)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.db import transaction
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from core.permissions import PUBLIC, signed_in


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. Shown only this once.")
    prefix = serializers.CharField(source="instance.token_key", help_text="The token's first characters.")
    created = serializers.DateTimeField(source="instance.created")
    expiry = serializers.DateTimeField(
        source="instance.expiry", allow_null=True, help_text="Moves forward while the token is used."
    )
    username = serializers.CharField(source="instance.user.username")


class TokenInfoSerializer(serializers.Serializer):
    prefix = serializers.CharField(source="token_key", help_text="The token's first characters.")
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True)


@transaction.atomic
def token_obtain(*, user) -> tuple[AuthToken, str]:  # type: ignore[no-untyped-def]
    """A new token for ``user``: the row (digest only) and the token itself, which is not
    stored anywhere and cannot be shown again. The oldest tokens beyond the per-user limit go."""
    instance, token = AuthToken.objects.create(user=user)
    keep = AuthToken.objects.filter(user=user).order_by("-created", "-pk")[: settings.IDOLSITE_TOKENS_PER_USER]
    AuthToken.objects.filter(user=user).exclude(pk__in=list(keep.values_list("pk", flat=True))).delete()
    return instance, token


@transaction.atomic
def token_revoke(*, user, token: AuthToken | None = None) -> int:  # type: ignore[no-untyped-def]
    """Revoke one token of ``user`` or, with no ``token``, all of them."""
    tokens = AuthToken.objects.filter(user=user)
    if token is not None:
        tokens = tokens.filter(pk=token.pk)
    deleted, _ = tokens.delete()
    return deleted


class TokenView(APIView):
    """``POST`` a username and password: a new token (earlier ones stay valid).
    ``GET``: your tokens (prefix, created, expiry; never the token). ``DELETE``: revoke the token
    sent with the request; signed in by session, or with ``?all=1``, all your tokens."""

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
        # The Django request: the sign-in lockout (idolsite.signin) counts failures by its address.
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        if user is None or not user.is_active:
            raise serializers.ValidationError({"non_field_errors": [gettext("wrong username or password")]})
        # A sign-in like the pages' (last_login, and the lockout forgets this address's failures).
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        instance, token = token_obtain(user=user)
        return Response(TokenSerializer({"token": token, "instance": instance}).data)

    @extend_schema(responses={200: TokenInfoSerializer(many=True)})
    def get(self, request: Request) -> Response:
        tokens = AuthToken.objects.filter(user=request.user).order_by("-created")
        return Response(TokenInfoSerializer(tokens, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, description="Revoke all your tokens, not only this one.")],
        responses={204: None},
    )
    def delete(self, request: Request) -> Response:
        current = request.auth if isinstance(request.auth, AuthToken) else None
        everything = request.query_params.get("all", "").lower() in ("1", "true", "yes")
        token_revoke(user=request.user, token=None if everything else current)
        return Response(status=status.HTTP_204_NO_CONTENT)
