"""The labeling pages, under /label/ (see idolsite/urls.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from labeling.views import activity, feed, grid, idols, photos

app_name = "labeling"

urlpatterns = [
    path("", grid.grid, name="grid"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="labeling/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # JSON actions of the grid, photo and idol pages (POST, CSRF token in X-CSRFToken)
    path("api/label/", grid.label, name="api-label"),
    path("api/unlabel/", grid.unlabel, name="api-unlabel"),
    path("api/exclude/", grid.exclude, name="api-exclude"),
    path("api/include/", grid.include, name="api-include"),
    path("api/undo/", grid.undo, name="api-undo"),
    # the typeahead
    path("idols/search/", grid.idol_search, name="idol-search"),
    path("idols/new/", grid.idol_create, name="idol-create"),
    # idols
    path("idols/", idols.idol_index, name="idols"),
    path("idols/<int:idol_id>/", idols.idol, name="idol"),
    path("idols/<int:idol_id>/graduate/", idols.idol_soft_delete, name="idol-graduate"),
    path("idols/<int:idol_id>/restore/", idols.idol_restore, name="idol-restore"),
    path("idols/<int:idol_id>/rename/", idols.idol_rename, name="idol-rename"),
    path("idols/<int:idol_id>/merge/", idols.idol_merge, name="idol-merge"),
    # photos: the feed (uploads, live detection states) and each photo's page
    path("photos/", feed.photos, name="photos"),
    path("photos/status/", feed.photos_status, name="photos-status"),
    path("photos/upload/", feed.photo_upload, name="photos-upload"),
    path("photos/<int:photo_id>/card/", feed.photo_card, name="photo-card"),
    path("photos/<int:photo_id>/retry/", feed.photo_retry, name="photo-retry"),
    path("photos/<int:photo_id>/", photos.photo, name="photo"),
    path("photos/<int:photo_id>/faces/", photos.face_add, name="photo-face-add"),
    path("photos/<int:photo_id>/faces/<int:face_id>/exclude/", photos.face_exclude, name="photo-face-exclude"),
    path("photos/<int:photo_id>/faces/<int:face_id>/include/", photos.face_include, name="photo-face-include"),
    path("faces/<int:face_id>/similar/", photos.face_similar, name="face-similar"),
    # activity
    path("activity/", activity.activity, name="activity"),
    path("activity/undo/", activity.activity_undo, name="activity-undo"),
]
