"""Every endpoint of the REST API, under /api/ (namespace ``api``): each app's ``api_urls``,
the tokens, and the schema with its documentation pages.

A new endpoint must also join the authorization matrix (tests/api/test_matrix.py), which fails
for any URL here that it does not list."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from idolsite.tokens import TokenView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("", include("faces.api_urls")),
    path("", include("labeling.api_urls")),
    path("", include("classifier.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
