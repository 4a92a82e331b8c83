"""Keras, imported on first use, and the versions of the libraries a model was trained with."""

from __future__ import annotations

import os
from typing import Any


def keras_module() -> Any:
    """Import Keras, with TensorFlow as the backend unless ``KERAS_BACKEND`` says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN kernels: much faster convolutions on CPUs where TensorFlow leaves them off by
    # default. Read when TensorFlow is first imported.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    import keras

    return keras


def library_versions() -> dict[str, str]:
    import platform

    import numpy

    keras = keras_module()
    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    try:
        backend_module = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[versions["backend"]])
        versions[versions["backend"]] = backend_module.__version__
    except (ImportError, KeyError):
        pass
    return versions
