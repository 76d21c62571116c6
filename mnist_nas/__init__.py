"""mnist_nas: the library behind the DVC stages in stages/, and the programs that are not stages.

    data/      reading MNIST from its sources, the seeded splits
    training/  the hand-designed candidates, augmentation, the Keras runtime, resuming
    search/    the AutoKeras search space and the trial bookkeeping
    scoring/   metrics, calibration, attributions, model selection
    reading/   ink finding, segmentation, the reader, the synthetic phone numbers
    programs/  predict, demo and study: console scripts, not stages

Importing it sets TensorFlow's C++ log level (2: warnings and errors only) unless the
environment already chose one, so every stage and program starts quietly, and makes TensorFlow
Keras' backend: the training stages choose theirs from train.backend (training/backend.py).
It also keeps TensorFlow's and Keras' start-up from importing packages they would not use
here (SkipUnusedImports).
"""

import importlib.abc
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

# What TensorFlow and Keras import at start-up wherever it is installed, for parts this project
# never uses: tf.lite's JAX converter, Keras' scikit-learn wrappers and image gallery. In the
# dev environment (JAX for train.backend: jax) they are 3.2 of the 9 CPU-seconds that every
# TensorFlow process spends starting (docs/benchmarks.md). Imported from anywhere else, the
# same packages load as usual.
SKIPPED_AT_START = {
    "tensorflow.lite.python.util": ("jax",),
    "keras.src.wrappers.fixes": ("sklearn",),
    "keras.src.wrappers.utils": ("sklearn",),
    "keras.src.wrappers.sklearn_wrapper": ("sklearn",),
    "keras.src.visualization.plot_image_gallery": ("matplotlib",),
    "keras.src.visualization.plot_bounding_box_gallery": ("matplotlib",),
}


class SkipUnusedImports(importlib.abc.MetaPathFinder):
    """Refuses the packages of SKIPPED_AT_START to the modules named there, which import them
    inside `try: ... except ImportError` and do without."""

    def find_spec(self, name: str, path=None, target=None) -> None:
        package = name.partition(".")[0]
        if package in SKIPPED_AT_START.get(importer(sys._getframe(1)), ()):
            raise ModuleNotFoundError(f"{package} is not imported at start-up here", name=name)


def importer(frame) -> str | None:
    """The module whose import statement is running: the first frame outside importlib."""
    while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
        frame = frame.f_back
    return None if frame is None else frame.f_globals.get("__name__")


if not any(isinstance(finder, SkipUnusedImports) for finder in sys.meta_path):
    sys.meta_path.insert(0, SkipUnusedImports())
