"""The bots' public endpoints: LINE's webhook and the numbered pictures sent as links. No
session, no sign-in: the webhook is proven by its signature, a picture by its random name."""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bots import line
from bots.models import BotAccount
from bots.pictures import KEEP, picture_path

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def line_webhook(request: HttpRequest, name: str) -> HttpResponse:
    """Answer 200 at once: the questions are recorded and queued, a worker answers them. A
    missing or wrong signature, or a body not LINE's, is a 400 and records nothing; an unknown
    or disabled bot is a 404 (the two are not told apart)."""
    bot = BotAccount.objects.filter(name=name, kind=BotAccount.Kind.LINE, enabled=True).first()
    if bot is None:
        return HttpResponse(status=404)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if not 0 <= length <= line.MAX_BODY:
        return HttpResponse(status=400 if length < 0 else 413)
    body = request.body
    if not line.signature_valid(secret=bot.secret, body=body, signature=request.headers.get("X-Line-Signature", "")):
        log.warning("LINE webhook of bot %s: a missing or wrong signature, refused", bot.name)
        return HttpResponse(status=400)
    try:
        events = line.events_parse(body)
    except ValueError as exc:
        log.warning("LINE webhook of bot %s: %s, refused", bot.name, exc)
        return HttpResponse(status=400)
    line.webhook_receive(bot=bot, events=events)
    return HttpResponse(status=200)


@require_GET
def picture(request: HttpRequest, name: str) -> FileResponse:
    stored = picture_path(name)
    if stored is None:
        raise Http404
    response = FileResponse(default_storage.open(stored, "rb"), content_type="image/jpeg")
    response["Cache-Control"] = f"public, max-age={int(KEEP.total_seconds())}"
    response["X-Content-Type-Options"] = "nosniff"
    return response
