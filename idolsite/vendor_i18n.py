"""Japanese for the admin's names of apps we install that ship none (django-q2, django-axes).

Never imported: ``make messages`` reads these strings into locale/ja, and Django finds their
Japanese there, whichever app asks for them.
"""

from django.utils.translation import gettext_noop

VENDOR_STRINGS = (
    # django-q2's task models
    gettext_noop("Task"),
    gettext_noop("Tasks"),
    gettext_noop("Successful task"),
    gettext_noop("Successful tasks"),
    gettext_noop("Failed task"),
    gettext_noop("Failed tasks"),
    gettext_noop("Scheduled task"),
    gettext_noop("Scheduled tasks"),
    gettext_noop("Queued task"),
    gettext_noop("Queued tasks"),
    # django-axes's sign-in records
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
)
