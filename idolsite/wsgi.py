import gc
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from core.env import require_web_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idolsite.settings")
application = get_wsgi_application()
require_web_settings(settings)
# What start-up made (modules, URL patterns, settings) lives as long as the process: kept out of
# the collector's full passes, which otherwise stall a request now and then.
gc.freeze()
