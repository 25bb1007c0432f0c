"""The published figures and worked examples of shared/REFERENCE.md, each citing its source."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import cnncalc
from cnncalc.layers.windows import Window
from helpers import summarise

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@cache
def example(name: str, batch: int = 1):
    """The summary of examples/NAME (a frozen record: shared by the tests that read it)."""
    return cnncalc.summary(cnncalc.load(EXAMPLES / name), batch)


# Course worked examples (REFERENCE.md "Output sizes"): (in, kernel, padding, stride) -> out.
@pytest.mark.parametrize(
    "size,kernel,padding,stride,expected",
    [(28, 3, 0, 1, 26), (28, 3, 1, 1, 28), (28, 3, 0, 2, 13), (224, 7, 3, 2, 112), (6, 3, 0, 1, 4), (32, 5, 0, 1, 28), (4, 2, 2, 1, 7)],
)
def test_course_output_sizes(size, kernel, padding, stride, expected):
    layer = {"conv2d": {"out": 4, "kernel": kernel, "padding": padding, "stride": stride}}
    summary = summarise({"input": [3, size, size], "layers": [layer]})
    assert summary.layers[0].output_shape == (4, expected, expected)
    assert Window(kernel, stride, 1, padding, padding).output_size(size) == expected


def test_course_32x32x3_with_four_5x5_filters():
    """(32x32x3, four 5x5x3 filters) -> 28x28x4, written Keras-style."""
    summary = summarise({"input": [32, 32, 3], "layout": "channels_last", "layers": [{"Conv2D": {"filters": 4, "kernel_size": 5}}]})
    assert summary.layers[0].output_shape == (28, 28, 4)


def test_course_mnist_421642_parameters():
    """Conv 320, conv 18,496, dense 401,536, dense 1,290: 421,642 (3136 = 7x7x64 needs 'same')."""
    summary = example("mnist-421k.yaml")
    params = {row.name: row.params for row in summary.layers if row.params}
    assert params == {"conv1": 320, "conv2": 18_496, "fc1": 401_536, "fc2": 1_290}
    assert summary.totals.params == 421_642
    flatten = next(row for row in summary.layers if row.type == "flatten")
    assert flatten.output_shape == (3136,)


def test_course_mnist_with_valid_padding_flattens_1600():
    """With 'valid' convs the flatten is 5x5x64 = 1600, so the dense layer cannot have 401,536:
    it has 1600 x 128 + 128 = 204,928 (the figure `cnncalc check` quotes for the course)."""
    text = (EXAMPLES / "mnist-421k.yaml").read_text()
    assert text.count("padding: same") == 2
    summary = summarise(text.replace("padding: same", "padding: valid"), path="valid.yaml")
    flatten = next(row for row in summary.layers if row.type == "flatten")
    assert flatten.output_shape == (1600,)
    assert next(row for row in summary.layers if row.name == "fc1").params == 204_928


def test_keras_mnist_93322():
    """The Keras MNIST model (REFERENCE.md worked examples): 93,322 params."""
    assert example("keras-mnist.yaml").totals.params == 93_322


def test_dense_only_networks():
    """784 -> 512 -> 10 without biases: 401,408 weights in the 784x512 matrix (the figure is
    that layer's; the 512x10 layer adds 5,120); 224x224x3 -> 512: 77,070,336, also without biases."""
    no_bias = summarise({"input": [784], "layers": [{"linear": {"out": 512, "bias": False}}, {"linear": {"out": 10, "bias": False}}]})
    assert no_bias.layers[0].params == 401_408
    assert no_bias.totals.params == 401_408 + 512 * 10
    wide = summarise({"input": [224, 224, 3], "layout": "channels_last", "layers": ["flatten", {"dense": {"units": 512, "use_bias": False}}]})
    assert wide.totals.params == 77_070_336


def test_lenet5_61706():
    """Classic LeNet-5 (32x32 input, full C3, 120-84-10): 61,706 params."""
    assert example("lenet5.yaml").totals.params == 61_706


def test_vgg16_torchvision_figures():
    """torchvision VGG16_Weights: num_params 138,357,544; 15.470 GFLOPS = 15,470,264,320 MACs."""
    summary = example("vgg16.yaml")
    assert summary.totals.params == 138_357_544
    assert summary.totals.macs == 15_470_264_320
    assert summary.layers[-1].output_shape == (1000,)


def test_vgg16_macs_scale_with_batch():
    assert example("vgg16.yaml", batch=4).totals.macs == 4 * 15_470_264_320


# Araujo, Norris, Sim (Distill 2019), google-research/receptive_field RECEPTIVE_FIELD_TABLE.md:
# vgg_16 endpoints as (size r, effective stride S, effective padding P).
VGG16_FIELDS = {
    "features.0": (3, 1, 1),  # conv1_1
    "features.4": (6, 2, 2),  # pool1
    "features.5": (10, 2, 4),  # conv2_1
    "features.9": (16, 4, 6),  # pool2
    "features.10": (24, 4, 10),  # conv3_1
    "features.16": (44, 8, 18),  # pool3
    "features.23": (100, 16, 42),  # pool4
    "features.24": (132, 16, 58),  # conv5_1
    "features.30": (212, 32, 90),  # pool5
}


@pytest.mark.parametrize("layer,expected", VGG16_FIELDS.items())
def test_vgg16_receptive_fields(layer, expected):
    row = next(row for row in example("vgg16.yaml").layers if row.name == layer)
    field = row.receptive_field
    assert (field.size[0], field.stride[0], field.padding[0]) == expected
    assert field.size[0] == field.size[1]
