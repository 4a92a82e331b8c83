"""How the product model is built and trained, and the baseline recipe it was measured against."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

MAX_EPOCHS = 1000
# Recipe fields added after the first saved models, with the value that means "not used".
ADDED_LATER: dict[str, Any] = {"train_crop": 0, "min_steps": 0, "bn_momentum": 0.99}


# The recipe fields that shape the network's weights (a warm start needs them equal).
NETWORK_FIELDS = ("input_size", "widths", "convs_per_block", "embedding_size")


@dataclass(frozen=True)
class Recipe:
    """How the product model is built and trained (the runs that chose each setting:
    docs/experiments.md; the current figures: bench/README.md)."""

    input_size: int = 64
    train_crop: int = 56  # training sees random windows of this side (0: the whole crop)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_block: tuple[int, ...] = (1, 2, 2, 2)
    embedding_size: int = 128
    dropout: float = 0.4
    # Batch norm's moving averages: Keras' 0.99 needs ~500 steps to forget its start (a variance
    # of 1 where the real one is ~0.01), and validation is at chance until then.
    bn_momentum: float = 0.9
    l2: float = 5e-4
    epochs: int = 90
    # A small labeled set (the first rounds of active learning) makes few steps an epoch: it
    # trains for more epochs, up to this many optimizer steps in all (at most MAX_EPOCHS).
    min_steps: int = 0
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    translate: float = 0.0  # shifts with a reflected fill (the crop above shifts for less)
    brightness: float = 0.15
    contrast: float = 0.2
    saturation: float = 0.2
    validation_every: int = 0  # 0: about 20 validations per run
    seed: int = 1234
    # A warm start (the new model begins as a copy of the active one: same idols, same network)
    # trains this fraction of the steps a training from scratch would, at this fraction of the
    # learning rate, with a short warmup (a tenth of its steps) for the new optimizer's state.
    warm_steps: float = 0.3
    warm_learning_rate: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def same_network(self, other: Recipe) -> bool:
        """Whether a model of ``other`` has the weights a model of this recipe needs."""
        return all(getattr(self, name) == getattr(other, name) for name in NETWORK_FIELDS)

    def steps_per_epoch(self, n_train: int) -> int:
        return max(1, math.ceil(n_train / self.batch_size))

    def epochs_for(self, n_train: int) -> int:
        """Epochs of a training on ``n_train`` examples: ``epochs``, or more for a small set
        so that it makes at least ``min_steps`` steps."""
        wanted = math.ceil(self.min_steps / self.steps_per_epoch(n_train)) if self.min_steps else 0
        return max(self.epochs, min(wanted, MAX_EPOCHS))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        # A recipe saved before a field existed trained without it.
        known = {**ADDED_LATER, **values} if values else {}
        known = {k: v for k, v in known.items() if k in cls.__dataclass_fields__}
        for name in ("widths", "convs_per_block"):
            if name in known:
                known[name] = tuple(known[name])
        return cls(**known)


def seed_recipe(epochs: int = 40) -> Recipe:
    """The talk's training: Adam 1e-3, batch 64, flips, crops, brightness and contrast."""
    return Recipe(
        input_size=96,
        train_crop=0,
        convs_per_block=(1, 1, 1, 1),
        translate=0.08,
        epochs=epochs,
        learning_rate=1e-3,
        weight_decay=0.0,
        warmup_epochs=0,
        label_smoothing=0.0,
        saturation=0.0,
        l2=1e-3,
    )
