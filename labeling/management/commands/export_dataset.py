"""Export the labeled faces as a dataset: ImageFolder, TFRecord or COCO (labeling.export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.export import FORMATS, ExportError, export_dataset


class Command(BaseCommand):
    help = (
        "Export the labeled faces (not excluded, photo not in the trash) to a new folder: "
        "imagefolder (a folder of crops per idol and manifest.csv), tfrecord (sharded "
        "tf.train.Example records and labels.txt) or coco (the photos' boxes in annotations.json). "
        "The folder appears only once the export is complete."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--format", required=True, choices=sorted(FORMATS))
        parser.add_argument("--out", required=True, help="A folder that does not exist yet (or is empty).")
        parser.add_argument("--idols", nargs="+", metavar="IDOL", help="Only these idols (ids or names).")
        parser.add_argument("--min-faces", type=int, default=1, help="Leave out idols with fewer faces (default 1).")
        parser.add_argument(
            "--split",
            type=float,
            help="Training fraction, e.g. 0.8: each idol's faces split train/val (not for coco).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the split (default 0).")
        parser.add_argument("--shard-size", type=int, default=1000, help="Faces per TFRecord shard (default 1000).")
        parser.add_argument("--copy-images", action="store_true", help="coco: copy the photos under images/.")

    def handle(self, *args: Any, **options: Any) -> None:
        bar: tqdm | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, desc="export", unit="face", disable=options["verbosity"] < 1)
            bar.update(done - bar.n)

        try:
            result = export_dataset(
                format=options["format"],
                out=Path(options["out"]),
                idols=options["idols"],
                min_faces=options["min_faces"],
                split=options["split"],
                seed=options["seed"],
                progress=progress,
                shard_size=options["shard_size"],
                copy_images=options["copy_images"],
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        plan = result.plan
        self.stdout.write(
            f"{result.written} face(s) of {len(plan.idols)} idol(s) exported to {result.path} ({options['format']})."
        )
        if plan.split is not None:
            self.stdout.write(f"{result.written - len(plan.val)} train, {len(plan.val)} val (seed {options['seed']}).")
        for name, count in plan.too_few:
            self.stdout.write(f"Left out: {name} ({count} face(s), fewer than {options['min_faces']}).")
        if plan.left_out.get("several_labels"):
            self.stdout.write(f"Left out: {plan.left_out['several_labels']} face(s) with several labels.")
