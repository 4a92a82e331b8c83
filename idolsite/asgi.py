import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from core.env import require_web_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idolsite.settings")
application = get_asgi_application()
require_web_settings(settings)
