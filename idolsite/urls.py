from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from classifier.views.home import home
from faces.views import media
from idolsite.health import healthz, readyz
from idolsite.metrics import metrics
from idolsite.views import favicon

admin.site.site_header = "idolsite"
admin.site.site_title = "idolsite"
admin.site.index_title = _("Photos, faces and labels")

# A new page, action or file route must also join tests/project/test_url_matrix.py (who may
# open it), which fails for any pattern it does not classify.
urlpatterns = [
    path("", home, name="home"),  # the home page: counts, what runs and waits, what to do next
    path("favicon.ico", favicon, name="favicon"),  # browsers ask for it by themselves
    # Probes and scrapes: no sign-in (health), a token or an allow-list (metrics).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the header's switch
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/", include(("idolsite.api_urls", "api"))),
    path("label/", include("labeling.urls")),
    path("bots/", include("bots.urls")),  # LINE's webhook and the pictures bots send as links
    re_path(r"^media/(?P<path>.+)$", media, name="media"),
    path("", include("classifier.urls")),  # the classifier pages
]

# Under /api/, a request refused early, a refusal, a URL no view matches and a server error
# answer the API's error shape; elsewhere a refusal is a page that says what role is missing.
handler400 = "idolsite.views.bad_request_view"
handler403 = "idolsite.views.permission_denied_view"
handler404 = "idolsite.views.not_found_view"
handler500 = "idolsite.views.server_error_view"
