from django.urls import path, re_path

from bots import views

app_name = "bots"

urlpatterns = [
    path("line/<slug:name>/", views.line_webhook, name="line-webhook"),
    re_path(r"^pictures/(?P<name>[A-Za-z0-9_-]{43}(?:-preview)?)\.jpg$", views.picture, name="picture"),
]
