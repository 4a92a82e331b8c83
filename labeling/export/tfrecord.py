"""TFRecord: ``tf.train.Example`` records in shards, and ``labels.txt``.

Each record holds the crop as stored (``image/encoded``, JPEG), its class (``image/class/label``,
the line of ``labels.txt``), the idol's name (``image/class/text``) and ids (``image/face_id``,
``image/idol_id``): the feature names of TF-slim's datasets. Shards are
``<split>-00000-of-00004.tfrecord`` (``train`` alone without ``--split``), ``shard_size`` faces
each; ``labels.txt`` has one ``index:name`` line a class. TensorFlow is imported by ``begin``.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage

from labeling.export.base import FaceRow, Writer

DEFAULT_SHARD_SIZE = 1000


class TFRecordWriter(Writer):
    name = "tfrecord"

    def begin(self) -> None:
        import tensorflow as tf

        self.tf = tf
        self.shard_size = int(self.options.get("shard_size") or DEFAULT_SHARD_SIZE)
        self._open: dict[str, Any] = {}  # split -> open writer
        self._in_shard: dict[str, int] = {}
        self._shards: dict[str, int] = {}
        with (self.root / "labels.txt").open("w", encoding="utf-8") as handle:
            for idol in self.plan.idols:
                handle.write(f"{idol.index}:{idol.name}\n")

    def _writer(self, split: str) -> Any:
        if split in self._open and self._in_shard[split] >= self.shard_size:
            self._open.pop(split).close()
        if split not in self._open:
            index = self._shards.get(split, 0)
            self._shards[split] = index + 1
            self._in_shard[split] = 0
            self._open[split] = self.tf.io.TFRecordWriter(str(self.root / f"{split}-{index:05d}.part"))
        self._in_shard[split] += 1
        return self._open[split]

    def add(self, row: FaceRow) -> None:
        tf = self.tf
        idol = row.idols[0]
        with default_storage.open(row.crop, "rb") as handle:
            encoded = handle.read()

        def ints(value: int) -> Any:
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

        def raw(value: bytes) -> Any:
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

        example = tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image/encoded": raw(encoded),
                    "image/format": raw(b"jpeg"),
                    "image/class/label": ints(idol.index),
                    "image/class/text": raw(idol.name.encode()),
                    "image/face_id": ints(row.face_id),
                    "image/idol_id": ints(idol.id),
                }
            )
        )
        self._writer(row.split).write(example.SerializeToString())

    def finish(self) -> None:
        for writer in self._open.values():
            writer.close()
        # The shards' total is known only now: rows labeled meanwhile may have been added.
        for split, count in self._shards.items():
            for index in range(count):
                (self.root / f"{split}-{index:05d}.part").rename(
                    self.root / f"{split}-{index:05d}-of-{count:05d}.tfrecord"
                )
