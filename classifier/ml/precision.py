"""The dtype policy of this machine: what hardware it has and which precision trains fastest."""

from __future__ import annotations

import os
from pathlib import Path

from classifier.ml.backend import keras_module


def has_gpu() -> bool:
    keras = keras_module()
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # a broken GPU driver must not stop a CPU training
        return False
    return False


def cpu_has_bf16() -> bool:
    """The CPU computes bfloat16 natively (AVX-512 BF16 or AMX), as oneDNN then uses it."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume not
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def precision_policy() -> str:
    """``IDOLSITE_TRAINING_PRECISION`` when set, else mixed float16 on a GPU, mixed bfloat16 on
    a CPU that computes it natively under TensorFlow (oneDNN: faster training and inference),
    float32 elsewhere (float16 and emulated bfloat16 are slower on a CPU). Read from the
    environment: this package knows no settings (Django's check the variable at start-up)."""
    wanted = os.environ.get("IDOLSITE_TRAINING_PRECISION", "auto").strip() or "auto"
    if wanted != "auto":
        if wanted not in PRECISIONS:
            raise ValueError(f"IDOLSITE_TRAINING_PRECISION must be auto or one of {', '.join(PRECISIONS)}")
        return wanted
    if has_gpu():
        return "mixed_float16"
    if keras_module().backend.backend() == "tensorflow" and cpu_has_bf16():
        return "mixed_bfloat16"
    return "float32"
