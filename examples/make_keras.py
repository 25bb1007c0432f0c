"""Write examples/small-cnn.keras, the Keras file the README reads: a small functional CNN
for 32x32 RGB images with Keras's own layers (Rescaling, Conv2D with BatchNormalization
and ReLU, two branches joined by Concatenate, a nested Sequential block, SeparableConv2D,
global pooling, Dropout and a softmax Dense), saved by Keras 3's model.save with its
(seeded, untrained) weights.

    KERAS_BACKEND=torch python examples/make_keras.py     # needs keras (cnncalc[test])
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402
from keras import layers  # noqa: E402

OUT = Path(__file__).resolve().parent / "small-cnn.keras"


def build() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    wide = layers.Conv2D(16, 3, padding="same", activation="relu", name="branch_3x3")(x)
    narrow = layers.Conv2D(8, 1, activation="relu", name="branch_1x1")(x)
    x = layers.Concatenate(name="joined")([wide, narrow])
    block = keras.Sequential([
        layers.SeparableConv2D(32, 3, strides=2, padding="same", name="sep_conv"),
        layers.BatchNormalization(name="sep_bn"),
        layers.ReLU(6.0, name="sep_relu6"),
    ], name="block")
    x = block(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(10, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


if __name__ == "__main__":
    build().save(OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")
