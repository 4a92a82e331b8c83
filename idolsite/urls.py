from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from faces.views import media

admin.site.site_header = "idolsite"
admin.site.site_title = "idolsite"
admin.site.index_title = "Photos, faces and labels"

urlpatterns = [
    path("", RedirectView.as_view(url="/label/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("faces.urls")),
    path("label/", include("labeling.urls")),
    re_path(r"^media/(?P<path>.+)$", media, name="media"),
    path("", include("classifier.urls")),  # classifier/... pages and /api/recognize/
]
