"""What a bot answers to an image: each face left to right with its top idols, "unknown" under
the bot's threshold, and a picture with numbered boxes when there are several faces.

The transports (``bots.line``, ``bots.mastodon``) fetch the image, call :func:`answer_image`
and send ``Answer.text`` (and ``Answer.image``) their own way.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, ngettext

from bots.models import BotAccount
from classifier.models import ModelVersion
from core.errors import InvalidImage

# The numbered picture's longest side: enough to tell the faces apart on a phone.
PICTURE_SIDE = 1280


@dataclass
class AnsweredFace:
    number: int
    box: tuple[int, int, int, int]
    names: list[tuple[str, float]] = field(default_factory=list)  # (name, probability), best first
    unknown: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "box": list(self.box),
            "unknown": self.unknown,
            "names": [{"name": n, "probability": p} for n, p in self.names],
        }


@dataclass
class Answer:
    text: str
    faces: list[AnsweredFace] = field(default_factory=list)
    image: bytes | None = None  # JPEG with numbered boxes, when there are several faces
    image_sha256: str = ""
    problem: str = ""  # "", "invalid_image", "no_face" or "no_model"

    def as_json(self) -> list[dict[str, Any]]:
        return [face.as_json() for face in self.faces]


def calibrated_threshold(metrics: dict[str, Any], *, precision: float | None = None) -> float | None:
    """The lowest top-1 probability above which the validation faces were named right at least
    ``precision`` of the time (``IDOLSITE_BOT_PRECISION``), from a version's calibration table;
    None without one."""
    precision = settings.IDOLSITE_BOT_PRECISION if precision is None else precision
    bins = (metrics or {}).get("calibration", {}).get("bins") or []
    count = right = 0.0
    lowest = None
    for row in reversed(bins):  # from the surest bin down: the share right among all above
        if not row.get("count"):
            continue
        count += row["count"]
        right += row["count"] * (row.get("accuracy") or 0.0)
        if right / count >= precision:
            lowest = float(row["lower"])
    return lowest


def bot_threshold(bot: BotAccount) -> float:
    """The bot's own threshold, else the active model's calibrated one, never under the site's
    ``IDOLSITE_UNKNOWN_THRESHOLD``."""
    if bot.threshold is not None:
        return bot.threshold
    version = ModelVersion.objects.active()
    calibrated = calibrated_threshold(version.metrics) if version is not None else None
    return max(settings.IDOLSITE_UNKNOWN_THRESHOLD, calibrated or 0.0)


def _allowed(bot: BotAccount, guess: Any, hidden: set[int]) -> bool:
    if guess.idol_id in hidden:
        return False
    return bot.name_former or guess.idol_status == "active"


def _percent(probability: float) -> str:
    return f"{round(probability * 100)}%"


def _face_line(face: AnsweredFace, *, numbered: bool) -> str:
    if face.unknown:
        said = gettext("unknown (not sure enough)")
    else:
        said = gettext(", ").join(f"{name} {_percent(p)}" for name, p in face.names)
    return f"{face.number}. {said}" if numbered else said


def _text(faces: list[AnsweredFace]) -> str:
    if len(faces) == 1:
        return _face_line(faces[0], numbered=False)
    head = ngettext("%(count)d face, from the left:", "%(count)d faces, from the left:", len(faces)) % {
        "count": len(faces)
    }
    return "\n".join([head, *(_face_line(face, numbered=True) for face in faces)])


def numbered_picture(image: Any, faces: list[AnsweredFace]) -> bytes:
    """A JPEG of ``image`` with each face's box and number, at most PICTURE_SIDE pixels long."""
    from PIL import ImageDraw, ImageFont

    picture = image.convert("RGB")
    scale = min(1.0, PICTURE_SIDE / max(picture.size))
    if scale < 1.0:
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)))
    draw = ImageDraw.Draw(picture)
    size = max(14, round(max(picture.size) / 30))
    font = ImageFont.load_default(size=size)
    line = max(2, size // 8)
    for face in faces:
        left, top, width, height = (round(v * scale) for v in face.box)
        colour = (160, 160, 160) if face.unknown else (255, 64, 129)
        draw.rectangle([left, top, left + width, top + height], outline=colour, width=line)
        label = str(face.number)
        x0, y0, x1, y1 = draw.textbbox((0, 0), label, font=font)
        pad = max(2, size // 6)
        tag_top = max(0, top - (y1 - y0) - 2 * pad)
        draw.rectangle([left, tag_top, left + (x1 - x0) + 2 * pad, tag_top + (y1 - y0) + 2 * pad], fill=colour)
        draw.text((left + pad - x0, tag_top + pad - y0), label, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


def answer_image(bot: BotAccount, data: bytes) -> Answer:
    """The bot's answer to an image, in the bot's language. A bad image or no model is an
    answer that says so (the asker gets a reply); a detector or embedder that cannot run is
    raised, for the task to try again."""
    from classifier import recognition
    from faces.images import decode_image

    digest = hashlib.sha256(data).hexdigest()
    with translation.override(bot.language):
        try:
            image = decode_image(data, max_bytes=settings.IDOLSITE_API_MAX_IMAGE_BYTES).image
        except InvalidImage as exc:
            return Answer(
                text=gettext("I could not read this image: %(reason)s") % {"reason": exc},
                image_sha256=digest,
                problem="invalid_image",
            )
        hidden = set(bot.hidden_idols.values_list("pk", flat=True))
        try:
            # More guesses than shown: the ones the bot may not name are taken out afterwards.
            recognized = recognition.recognize(image, top=bot.top + len(hidden) + 5, threshold=bot_threshold(bot))
        except recognition.NoActiveModel:
            return Answer(
                text=gettext("I cannot recognize anyone yet: no model has been trained."),
                image_sha256=digest,
                problem="no_model",
            )
        if not recognized:
            return Answer(text=gettext("I found no face in this image."), image_sha256=digest, problem="no_face")
        faces = []
        for number, face in enumerate(sorted(recognized, key=lambda f: (f.box[0], f.box[1])), start=1):
            allowed = [g for g in face.top if _allowed(bot, g, hidden)]
            # The best match may not be named: the face is unknown, not the second best's.
            unknown = face.unknown or not face.top or not allowed or allowed[0] is not face.top[0]
            names = [] if unknown else [(g.name, g.probability) for g in allowed[: bot.top] if g.probability >= 0.01]
            faces.append(AnsweredFace(number=number, box=face.box, names=names, unknown=unknown))
        picture = numbered_picture(image, faces) if len(faces) > 1 else None
        return Answer(text=_text(faces), faces=faces, image=picture, image_sha256=digest)


def help_text(bot: BotAccount) -> str:
    with translation.override(bot.language):
        return gettext("Send me a photo and I will tell you who is in it: each face from the left, with how sure I am.")


def limit_text(bot: BotAccount) -> str:
    with translation.override(bot.language):
        return gettext("I have answered as many photos as I can today. Please try again tomorrow.")
