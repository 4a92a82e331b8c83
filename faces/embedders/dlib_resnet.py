"""dlib's 128-d face ResNet: the crop aligned by dlib's 5-point shape predictor to a 150x150
chip, then one descriptor per chip. The default weights ship in ``face_recognition_models``;
IDOLSITE_EMBEDDER_MODEL names another file of the same format (e.g. a model trained on
Japanese faces)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from faces.embedders.base import Embedder, EmbedderUnavailable, FaceImage

if TYPE_CHECKING:
    import numpy as np

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Smaller than any dlib network or shape predictor: a download that failed (an HTML page).
_MIN_MODEL_BYTES = 1 << 20


# Files of the face_recognition_models package, found without importing it: its __init__ needs
# pkg_resources (setuptools), which new virtual environments no longer have.
PACKAGED_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
PACKAGED_PREDICTOR = "shape_predictor_5_face_landmarks.dat"


def _packaged(filename: str) -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models" / filename


_REINSTALL = "reinstall face_recognition_models (pip install --force-reinstall face_recognition_models)"
_CONFIGURE = "set IDOLSITE_EMBEDDER_MODEL to a dlib face model file (.dat), or unset it for the packaged one"


def _file_errors(path: Path | None, what: str, fix: str) -> list[str]:
    if path is None:
        return [f"{what}: the package face_recognition_models is not installed (pip install face_recognition_models)"]
    if not path.is_file():
        return [f"{what} {path} does not exist: {fix}"]
    with path.open("rb") as handle:
        head = handle.read(3)
    if head == b"BZh":
        return [f"{what} {path} is still bzip2-compressed: unpack it (bunzip2) and use the .dat file"]
    if path.stat().st_size < _MIN_MODEL_BYTES:
        return [f"{what} {path} is too small to be a dlib model ({path.stat().st_size} bytes): {fix}"]
    return []


class DlibEmbedder(Embedder):
    name = "dlib"
    dimension = 128

    @classmethod
    def model_path(cls) -> Path:
        configured = settings.IDOLSITE_EMBEDDER_MODEL
        if configured:
            return Path(configured)
        return _packaged(PACKAGED_MODEL) or Path(PACKAGED_MODEL)

    @classmethod
    def configuration_errors(cls) -> list[str]:
        errors = _file_errors(_packaged(PACKAGED_PREDICTOR), "the 5-point shape predictor", _REINSTALL)
        if settings.IDOLSITE_EMBEDDER_MODEL:
            errors += _file_errors(Path(settings.IDOLSITE_EMBEDDER_MODEL), "the face model", _CONFIGURE)
        else:
            errors += _file_errors(_packaged(PACKAGED_MODEL), "the face model", _REINSTALL)
        return errors

    def __init__(self) -> None:
        super().__init__()
        errors = self.configuration_errors()
        if errors:
            raise EmbedderUnavailable(errors[0])
        try:
            import dlib
        except ImportError as exc:
            raise EmbedderUnavailable(f"dlib is not installed (pip install dlib-bin): {exc}") from exc
        self._dlib: Any = dlib
        predictor = _packaged(PACKAGED_PREDICTOR)
        path = self.model_path()
        try:
            self._predictor = dlib.shape_predictor(str(predictor))
            self._net = dlib.face_recognition_model_v1(str(path))
        except RuntimeError as exc:  # dlib's own message on a corrupt or foreign file
            raise EmbedderUnavailable(f"the face model {path} cannot be loaded by dlib: {exc}") from exc

    def chip(self, face: FaceImage) -> np.ndarray:
        """The face aligned as the network was trained: its 5 points to a 150x150 chip."""
        import numpy as np

        x, y, w, h = face.box
        rect = self._dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
        rgb = np.ascontiguousarray(face.rgb, dtype=np.uint8)
        shape = self._predictor(rgb, rect)
        return self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)

    def _embed(self, faces: list[FaceImage]) -> list[np.ndarray]:
        import numpy as np

        chips = [self.chip(face) for face in faces]
        # One call for the batch: dlib runs the network over the chips together.
        vectors = self._net.compute_face_descriptor(chips)
        return [np.asarray(vector, dtype=np.float32) for vector in vectors]
