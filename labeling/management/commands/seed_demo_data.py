"""Fill an empty database with demo data at the scale of a real collection:
``manage.py seed_demo_data --faces 200000 --idols 1000 --labels 30000``.

Rows go in with ``bulk_create`` in chunks (the services write one row at a time, far too slow
for 200,000 faces); the idols' search text is built by the same function the services use.
Every photo shares one of a few small image files and every face one of a few crops, so the
data costs a few kilobytes on disk. Demo data only: purging a demo photo would delete a file
other demo rows share.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from datetime import date, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from faces.images import make_thumbnail
from faces.models import Face, Photo, Source
from labeling.models import FaceLabel, How, Idol, IdolAlias, IdolGroup, LabelEvent, Membership
from labeling.services import idol_search_text
from labeling.text import name_key

# (kanji, kana, romaji)
SURNAMES = [
    ("佐藤", "さとう", "sato"),
    ("鈴木", "すずき", "suzuki"),
    ("高橋", "たかはし", "takahashi"),
    ("田中", "たなか", "tanaka"),
    ("伊藤", "いとう", "ito"),
    ("渡辺", "わたなべ", "watanabe"),
    ("山本", "やまもと", "yamamoto"),
    ("中村", "なかむら", "nakamura"),
    ("小林", "こばやし", "kobayashi"),
    ("加藤", "かとう", "kato"),
    ("吉田", "よしだ", "yoshida"),
    ("山田", "やまだ", "yamada"),
    ("佐々木", "ささき", "sasaki"),
    ("山口", "やまぐち", "yamaguchi"),
    ("松本", "まつもと", "matsumoto"),
    ("井上", "いのうえ", "inoue"),
    ("木村", "きむら", "kimura"),
    ("林", "はやし", "hayashi"),
    ("清水", "しみず", "shimizu"),
    ("山崎", "やまざき", "yamazaki"),
    ("森", "もり", "mori"),
    ("池田", "いけだ", "ikeda"),
    ("橋本", "はしもと", "hashimoto"),
    ("阿部", "あべ", "abe"),
    ("石川", "いしかわ", "ishikawa"),
    ("前田", "まえだ", "maeda"),
    ("藤田", "ふじた", "fujita"),
    ("小川", "おがわ", "ogawa"),
    ("岡田", "おかだ", "okada"),
    ("後藤", "ごとう", "goto"),
    ("長谷川", "はせがわ", "hasegawa"),
    ("村上", "むらかみ", "murakami"),
    ("近藤", "こんどう", "kondo"),
    ("坂本", "さかもと", "sakamoto"),
    ("遠藤", "えんどう", "endo"),
    ("青木", "あおき", "aoki"),
]
GIVEN = [
    ("遥", "はるか", "haruka"),
    ("美咲", "みさき", "misaki"),
    ("陽菜", "ひな", "hina"),
    ("結衣", "ゆい", "yui"),
    ("さくら", "さくら", "sakura"),
    ("七海", "ななみ", "nanami"),
    ("葵", "あおい", "aoi"),
    ("彩花", "あやか", "ayaka"),
    ("真由", "まゆ", "mayu"),
    ("萌", "もえ", "moe"),
    ("優花", "ゆうか", "yuuka"),
    ("千尋", "ちひろ", "chihiro"),
    ("莉子", "りこ", "riko"),
    ("芽衣", "めい", "mei"),
    ("瑞希", "みずき", "mizuki"),
    ("舞", "まい", "mai"),
    ("愛理", "あいり", "airi"),
    ("楓", "かえで", "kaede"),
    ("菜々子", "ななこ", "nanako"),
    ("紗希", "さき", "saki"),
    ("日向", "ひなた", "hinata"),
    ("心愛", "ここあ", "kokoa"),
    ("美羽", "みう", "miu"),
    ("花音", "かのん", "kanon"),
    ("桃子", "ももこ", "momoko"),
    ("琴音", "ことね", "kotone"),
    ("未来", "みらい", "mirai"),
    ("杏奈", "あんな", "anna"),
    ("玲奈", "れな", "rena"),
    ("梨花", "りか", "rika"),
    ("奈央", "なお", "nao"),
    ("朱里", "あかり", "akari"),
    ("詩織", "しおり", "shiori"),
    ("香織", "かおり", "kaori"),
    ("友梨", "ゆり", "yuri"),
    ("ひかる", "ひかる", "hikaru"),
]
GROUP_HEADS = [
    "桜",
    "ひまわり",
    "Sunny",
    "Starlight",
    "月光",
    "虹色",
    "Pastel",
    "夢見",
    "Lucky",
    "星空",
    "青春",
    "Candy",
]
GROUP_TAILS = ["坂46", "組", "☆Girls", " Project", "少女隊", " Days", "学園", "Fantasy"]
SOURCES = [
    (Source.Kind.X, "X timeline"),
    (Source.Kind.BLUESKY, "Bluesky"),
    (Source.Kind.MASTODON, "Mastodon"),
    (Source.Kind.RSS, "Fan blog feed"),
    (Source.Kind.PAGE, "Official site"),
    (Source.Kind.FOLDER, "Camera roll"),
]
CHUNK = 2000
PHOTO_SIZE = (640, 480)


def _face_image(seed: int, size: int = 128) -> Image.Image:
    """A cartoon face: enough to look like a face grid in screenshots."""
    rnd = random.Random(seed)
    bg = tuple(rnd.randint(150, 235) for _ in range(3))
    skin = (rnd.randint(225, 250), rnd.randint(190, 215), rnd.randint(160, 190))
    hair = tuple(rnd.randint(20, 110) for _ in range(3))
    image = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(image)
    s = size / 128
    d.ellipse([22 * s, 14 * s, 106 * s, 112 * s], fill=hair)
    d.ellipse([32 * s, 30 * s, 96 * s, 106 * s], fill=skin)
    d.rectangle([30 * s, 22 * s, 98 * s, 44 * s], fill=hair)
    for ex in (50, 78):
        d.ellipse([(ex - 5) * s, 60 * s, (ex + 5) * s, 70 * s], fill=(40, 30, 30))
    d.arc([52 * s, 76 * s, 76 * s, 94 * s], 20, 160, fill=(190, 70, 80), width=max(1, int(3 * s)))
    return image


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Seed demo idols, groups, photos, faces and labels in bulk (refuses a database with faces unless --force)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--faces", type=int, default=200_000)
        parser.add_argument("--idols", type=int, default=1_000)
        parser.add_argument("--labels", type=int, default=30_000)
        parser.add_argument("--groups", type=int, default=None, help="default: one per 20 idols")
        parser.add_argument("--faces-per-photo", type=int, default=4)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--force", action="store_true", help="add demo data even if the database has faces")

    def handle(self, *args: Any, **options: Any) -> None:
        n_faces, n_idols, n_labels = options["faces"], options["idols"], options["labels"]
        if n_faces < 1 or n_idols < 1 or n_labels < 0:
            raise CommandError("--faces and --idols must be at least 1, --labels at least 0")
        if n_labels > n_faces:
            raise CommandError("--labels cannot exceed --faces (one label per face at most here)")
        existing = Face.objects.count()
        if existing and not options["force"]:
            raise CommandError(f"the database has {existing} faces already; use --force to add demo data anyway")
        self.rnd = random.Random(options["seed"])
        self.run = uuid.uuid4().hex[:8]
        n_groups = options["groups"] or max(1, n_idols // 20)
        start = timezone.now()
        with transaction.atomic():
            files = self._files()
            sources = self._sources()
            groups = self._groups(n_groups)
            idols = self._idols(n_idols, groups)
            photos = self._photos(-(-n_faces // options["faces_per_photo"]), files, sources)
            faces = self._faces(n_faces, photos, files)
            self._labels(n_labels, faces, idols)
        seconds = (timezone.now() - start).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {n_groups} groups, {n_idols} idols, {len(photos)} photos, {n_faces} faces and "
                f"{n_labels} labels in {seconds:.0f} s."
            )
        )

    # --- parts -------------------------------------------------------------------------------

    def _files(self) -> dict[str, list[str]]:
        crops, photos, thumbs = [], [], []
        for k in range(12):
            name = f"demo/crops/face_{k}.jpg"
            if not default_storage.exists(name):
                default_storage.save(name, ContentFile(_jpeg(_face_image(k))))
            crops.append(name)
        for k in range(4):
            image = Image.new("RGB", PHOTO_SIZE, (200 + k * 10, 210, 225 - k * 10))
            for j in range(4):
                face = _face_image(k * 10 + j, 140)
                image.paste(face, (20 + j * 152, 150 + (j % 2) * 60))
            name, thumb = f"demo/photos/photo_{k}.jpg", f"demo/thumbs/photo_{k}.jpg"
            if not default_storage.exists(name):
                default_storage.save(name, ContentFile(_jpeg(image)))
                default_storage.save(thumb, ContentFile(make_thumbnail(image)))
            photos.append(name)
            thumbs.append(thumb)
        return {"crops": crops, "photos": photos, "thumbs": thumbs}

    def _sources(self) -> list[Source]:
        sources = []
        for kind, name in SOURCES:
            source, _ = Source.objects.get_or_create(
                kind=kind, locator=f"demo:{kind}", defaults={"name": f"{name} (demo)", "enabled": False}
            )
            sources.append(source)
        return sources

    def _groups(self, n: int) -> list[IdolGroup]:
        names = [f"{h}{t}" for h in GROUP_HEADS for t in GROUP_TAILS]
        self.rnd.shuffle(names)
        taken = set(IdolGroup.objects.values_list("name", flat=True))
        wanted = []
        for i in range(n):
            name = names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
            if name not in taken:
                wanted.append(IdolGroup(name=name))
        IdolGroup.objects.bulk_create(wanted, batch_size=CHUNK)
        self.stdout.write(f"groups: {len(wanted)}")
        return list(IdolGroup.objects.order_by("id"))

    def _idols(self, n: int, groups: list[IdolGroup]) -> list[Idol]:
        rnd = self.rnd
        combos = [(s, g) for s in SURNAMES for g in GIVEN]
        rnd.shuffle(combos)
        now = timezone.now()
        idols, extras = [], []
        for i in range(n):
            (sk, sr, sro), (gk, gr, gro) = combos[i % len(combos)]
            suffix = f" {i // len(combos) + 1}" if i >= len(combos) else ""
            name, reading = f"{sk} {gk}{suffix}", f"{sr} {gr}"
            aliases = []
            if rnd.random() < 0.15:
                (ok, _or, _oro) = rnd.choice(SURNAMES)
                aliases.append((f"{ok} {gk}{suffix}", IdolAlias.Kind.OLD_NAME))
            if rnd.random() < 0.3:
                aliases.append((f"{gr}ちゃん", IdolAlias.Kind.NICKNAME))
            handles = {"x": f"{gro}_{sro}{i}"} if rnd.random() < 0.7 else {}
            graduated = rnd.random() < 0.08
            current = rnd.choice(groups)
            memberships = [(current, date(2018 + rnd.randint(0, 6), rnd.randint(1, 12), 1), None)]
            if rnd.random() < 0.15:
                former = rnd.choice(groups)
                if former.pk != current.pk:
                    memberships.insert(
                        0, (former, date(2014, rnd.randint(1, 12), 1), date(2017, rnd.randint(1, 12), 1))
                    )
            if graduated:
                group, joined, _ = memberships[-1]
                memberships[-1] = (group, joined, joined + timedelta(days=rnd.randint(200, 1500)))
            idols.append(
                Idol(
                    name=name,
                    reading=reading,
                    name_key=name_key(name),
                    reading_key=name_key(reading),
                    handles=handles,
                    search_text=idol_search_text(
                        name=name,
                        reading=reading,
                        aliases=[a for a, _ in aliases],
                        handles=handles,
                        groups=[g.name for g, _, _ in memberships],
                    ),
                    deleted_at=now if graduated else None,
                    deletion_reason=Idol.DeletionReason.GRADUATED if graduated else "",
                )
            )
            extras.append((aliases, memberships))
        Idol.all_objects.bulk_create(idols, batch_size=CHUNK)
        IdolAlias.objects.bulk_create(
            [
                IdolAlias(idol=idol, name=a, kind=k, name_key=name_key(a))
                for idol, (aliases, _) in zip(idols, extras, strict=True)
                for a, k in aliases
            ],
            batch_size=CHUNK,
        )
        Membership.objects.bulk_create(
            [
                Membership(idol=idol, group=g, joined=j, left=lf)
                for idol, (_, memberships) in zip(idols, extras, strict=True)
                for g, j, lf in memberships
            ],
            batch_size=CHUNK,
        )
        self.stdout.write(f"idols: {n} ({sum(1 for i in idols if i.deleted_at)} graduated)")
        return idols

    def _photos(self, n: int, files: dict[str, list[str]], sources: list[Source]) -> list[Photo]:
        rnd = self.rnd
        base = timezone.now() - timedelta(days=730)
        photos: list[Photo] = []
        for start in range(0, n, CHUNK):
            chunk = []
            for i in range(start, min(n, start + CHUNK)):
                k = i % len(files["photos"])
                chunk.append(
                    Photo(
                        image=files["photos"][k],
                        thumbnail=files["thumbs"][k],
                        sha256=hashlib.sha256(f"demo-{self.run}-{i}".encode()).hexdigest(),
                        phash=f"{rnd.getrandbits(64):016x}",
                        width=PHOTO_SIZE[0],
                        height=PHOTO_SIZE[1],
                        format="JPEG",
                        file_size=40_000,
                        original_name=f"demo_{i}.jpg",
                        source=rnd.choice(sources),
                        posted_at=base + timedelta(minutes=i * 730 * 24 * 60 // max(1, n)),
                        status=Photo.Status.DETECTED,
                        detector="demo",
                    )
                )
            photos.extend(Photo.all_objects.bulk_create(chunk))
        self._spread_dates(Photo.all_objects.all(), [p.pk for p in photos])
        self.stdout.write(f"photos: {n}")
        return photos

    def _faces(self, n: int, photos: list[Photo], files: dict[str, list[str]]) -> list[Face]:
        rnd = self.rnd
        now = timezone.now()
        reasons = Face.ExclusionReason.values
        per_photo = -(-n // len(photos))
        faces: list[Face] = []
        for start in range(0, n, CHUNK):
            chunk = []
            for i in range(start, min(n, start + CHUNK)):
                side = rnd.randint(40, 160)
                excluded = rnd.random() < 0.02
                chunk.append(
                    Face(
                        photo=photos[i // per_photo],
                        x=rnd.randint(0, PHOTO_SIZE[0] - side),
                        y=rnd.randint(0, PHOTO_SIZE[1] - side),
                        w=side,
                        h=side,
                        detector="demo",
                        score=round(min(1.0, 0.5 + rnd.betavariate(5, 1.5) * 0.5), 6),
                        crop=files["crops"][i % len(files["crops"])],
                        excluded=excluded,
                        exclusion_reason=rnd.choice(reasons) if excluded else "",
                        excluded_at=now if excluded else None,
                    )
                )
            faces.extend(Face.objects.bulk_create(chunk))
            if (start // CHUNK) % 20 == 0:
                self.stdout.write(f"faces: {start + len(chunk)} / {n}")
        self._spread_dates(Face.objects.all(), [f.pk for f in faces])
        return faces

    def _labels(self, n: int, faces: list[Face], idols: list[Idol]) -> None:
        rnd = self.rnd
        candidates = [f.pk for f in faces if not f.excluded]
        chosen = rnd.sample(candidates, min(n, len(candidates)))
        # A few idols are photographed far more than the rest.
        weights = [1.0 / (rank + 10) for rank in range(len(idols))]
        picks = rnd.choices(idols, weights=weights, k=len(chosen))
        labels = [FaceLabel(face_id=pk, idol=idol, how=How.IMPORT) for pk, idol in zip(chosen, picks, strict=True)]
        FaceLabel.objects.bulk_create(labels, batch_size=CHUNK)
        events = []
        batch = uuid.uuid4()
        for i, label in enumerate(labels):
            if i % 500 == 0:
                batch = uuid.uuid4()
            events.append(
                LabelEvent(
                    face_id=label.face_id,
                    idol_id=label.idol.pk,
                    action=LabelEvent.Action.LABEL_ADDED,
                    how=How.IMPORT,
                    batch=batch,
                    note="demo data",
                )
            )
        LabelEvent.objects.bulk_create(events, batch_size=CHUNK)
        self.stdout.write(f"labels: {len(labels)}")

    def _spread_dates(self, queryset: Any, pks: list[int]) -> None:
        """Spread ``created_at`` over the last two years in id order, a chunk at a time
        (``auto_now_add`` stamps every bulk-created row with the same moment)."""
        if not pks:
            return
        now = timezone.now()
        steps = max(1, -(-len(pks) // CHUNK))
        for step, start in enumerate(range(0, len(pks), CHUNK)):
            ids = pks[start : start + CHUNK]
            moment = now - timedelta(days=730) + timedelta(days=730 * step / steps)
            queryset.filter(pk__gte=min(ids), pk__lte=max(ids)).update(created_at=moment)
