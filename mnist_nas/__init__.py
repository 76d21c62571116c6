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
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
