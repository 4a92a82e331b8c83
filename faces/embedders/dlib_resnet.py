"""dlib's 128-d face ResNet: the crop aligned by dlib's 5-point shape predictor to a 150x150
chip, then one descriptor per chip. The default weights ship in ``face_recognition_models``;
IDOLSITE_EMBEDDER_MODEL names another file of the same format (e.g. a model trained on
Japanese faces)."""

from __future__ import annotations

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


def _packaged(name: str) -> Path | None:
    try:
        import face_recognition_models
    except ImportError:
        return None
    return Path(getattr(face_recognition_models, name)())


def _file_errors(path: Path | None, what: str, setting: str) -> list[str]:
    if path is None:
        return [f"{what}: the package face_recognition_models is not installed (pip install face_recognition_models)"]
    if not path.is_file():
        return [f"{what} {path} does not exist: set {setting} to a dlib model file"]
    with path.open("rb") as handle:
        head = handle.read(3)
    if head == b"BZh":
        return [f"{what} {path} is still bzip2-compressed: unpack it (bunzip2) and point {setting} at the .dat file"]
    if path.stat().st_size < _MIN_MODEL_BYTES:
        return [f"{what} {path} is too small to be a dlib model ({path.stat().st_size} bytes): download it again"]
    return []


class DlibEmbedder(Embedder):
    name = "dlib"
    dimension = 128

    @classmethod
    def model_path(cls) -> Path:
        configured = settings.IDOLSITE_EMBEDDER_MODEL
        if configured:
            return Path(configured)
        return _packaged("face_recognition_model_location") or Path("dlib_face_recognition_resnet_model_v1.dat")

    @classmethod
    def configuration_errors(cls) -> list[str]:
        errors = _file_errors(
            _packaged("pose_predictor_five_point_model_location"), "the 5-point shape predictor", "no setting"
        )
        if settings.IDOLSITE_EMBEDDER_MODEL:
            errors += _file_errors(Path(settings.IDOLSITE_EMBEDDER_MODEL), "the face model", "IDOLSITE_EMBEDDER_MODEL")
        else:
            errors += _file_errors(_packaged("face_recognition_model_location"), "the face model", "no setting")
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
        predictor = _packaged("pose_predictor_five_point_model_location")
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
