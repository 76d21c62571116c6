"""Random rotations, shifts and zooms of the digits, active only in training: one affine
transform per image, drawn once and interpolated once, on any Keras backend.

Keras' RandomRotation, RandomTranslation and RandomZoom draw and interpolate one after the
other; on JAX each goes through a vmapped map_coordinates, and a fit of deep_convnet did not
finish its first epoch there (the H200 on 2026-12-04; bench/augmentation.py measures both).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mnist_nas")
class RandomAffine(layers.Layer):
    """Each image turned by up to `rotation` degrees either way, shifted by up to `shift` of
    its size along each axis and scaled by 1 ± `zoom` (> 1 zooms out), about its centre, with
    black beyond the edges: the ranges of RandomRotation(rotation / 360),
    RandomTranslation(shift, shift) and RandomZoom(zoom), all with fill_mode="constant"."""

    def __init__(self, rotation: float, shift: float, zoom: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.shift, self.zoom, self.seed = rotation, shift, zoom, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        return ops.image.affine_transform(
            images, self.transforms(ops.shape(images)), fill_mode="constant"
        )

    def transforms(self, shape) -> keras.KerasTensor:
        """[n, 8] projective transforms: each output pixel's place in its input image."""
        count, height, width = shape[0], shape[1], shape[2]
        draw = keras.random.uniform((count, 4), -1.0, 1.0, seed=self.seed_generator)
        angle = draw[:, 0] * (self.rotation * math.pi / 180)
        scale = 1.0 + draw[:, 1] * self.zoom
        shift_x, shift_y = draw[:, 2] * self.shift * width, draw[:, 3] * self.shift * height
        centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
        a0, a1 = scale * ops.cos(angle), -scale * ops.sin(angle)
        b0, b1 = scale * ops.sin(angle), scale * ops.cos(angle)
        a2 = centre_x - a0 * centre_x - a1 * centre_y + shift_x
        b2 = centre_y - b0 * centre_x - b1 * centre_y + shift_y
        zeros = ops.zeros_like(angle)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = {"rotation": self.rotation, "shift": self.shift, "zoom": self.zoom}
        return super().get_config() | config | {"seed": self.seed}


def augmentation(x, rotation: float, shift: float, zoom: float):
    """Random rotations (degrees), shifts and zooms (fractions of the image), active only in
    training; all three 0: none."""
    if not (rotation or shift or zoom):
        return x
    return RandomAffine(rotation, shift, zoom, name="augmentation")(x)


def without_augmentation(model: keras.Model) -> keras.Model:
    """`model`, its layers and weights shared, with its augmentation left out (an Identity
    layer in its place): what is saved, so a .keras file is plain Keras that loads anywhere."""
    if not any(isinstance(layer, RandomAffine) for layer in model.layers):
        return model

    def plain(layer):
        return layers.Identity(name=layer.name) if isinstance(layer, RandomAffine) else layer

    return keras.models.clone_model(model, clone_function=plain)
