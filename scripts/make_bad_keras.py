"""Write the Keras cases of tests/bad/: small .keras archives, each wrong in one way, and
the command line (.cmd) that reads it. The configs are written here in the form Keras 3's
model.save writes them (config.json: a Functional model, its layers with their inbound
nodes), so no Keras is needed; the weights cases hold a model.weights.h5 written with h5py.
Run from the repository root:

    python scripts/make_bad_keras.py

then `python -m pytest tests/test_errors.py --overwrite` records the messages.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

BAD = Path(__file__).resolve().parent.parent / "tests" / "bad"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # so the files come out the same each run
METADATA = json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"})


def tensor(layer: str, shape, node: int = 0, index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, *shape], "dtype": "float32", "keras_history": [layer, node, index]}}


def input_layer(name: str = "image", shape=(8, 8, 3)) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": [None, *shape], "dtype": "float32", "sparse": False, "ragged": False, "name": name,
                       "optional": False},
            "registered_name": None, "name": name, "inbound_nodes": []}


def layer(class_name: str, name: str, config: dict, args: list, module: str = "keras.layers", kwargs=None) -> dict:
    return {"module": module, "class_name": class_name,
            "config": {"name": name, "trainable": True, "dtype": "float32", **config},
            "registered_name": None, "name": name, "inbound_nodes": [{"args": args, "kwargs": kwargs or {}}]}


def conv(name: str = "conv", source: str = "image", shape=(8, 8, 3), **options) -> dict:
    config = {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last",
              "dilation_rate": [1, 1], "groups": 1, "activation": "linear", "use_bias": True,
              "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}},
              "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
              "kernel_constraint": None, "bias_constraint": None, **options}
    return layer("Conv2D", name, config, [tensor(source, shape)])


def functional(layers: list, output: str, inputs=("image",), name: str = "case") -> dict:
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": name, "trainable": True, "layers": layers,
                       "input_layers": [[i, 0, 0] for i in inputs] if len(inputs) > 1 else [inputs[0], 0, 0],
                       "output_layers": [output, 0, 0]},
            "registered_name": "Functional", "build_config": {"input_shape": None}, "compile_config": {}}


def archive(config, weights: bytes | None = None, members=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in (members if members is not None else
                           [("metadata.json", METADATA), ("config.json", json.dumps(config))]):
            zipped.writestr(zipfile.ZipInfo(name, FIXED_TIME), data)
        if weights is not None:
            zipped.writestr(zipfile.ZipInfo("model.weights.h5", FIXED_TIME), weights)
    return buffer.getvalue()


def h5(groups: dict) -> bytes:
    """A model.weights.h5: layers/KEY/vars/0, 1, ... as Keras writes them (its name beside)."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        for key, (name, arrays) in groups.items():
            variables = file.create_group(f"layers/{key}/vars")
            variables.attrs["name"] = name
            for index, array in enumerate(arrays):
                variables.create_dataset(str(index), data=array, track_times=False)
        file.create_group("vars")
    return buffer.getvalue()


def good() -> dict:
    return functional([input_layer(), conv(), layer("ReLU", "relu", {"max_value": None, "negative_slope": 0.0,
                                                                      "threshold": 0.0}, [tensor("conv", (6, 6, 4))])],
                      "relu")


CASES = {}


def case(name, command="summary FILE"):
    def register(function):
        CASES[name] = (function, command)
        return function

    return register


@case("keras-truncated")
def truncated():
    return archive(good())[:300]


@case("keras-no-config")
def no_config():
    return archive(None, members=[("metadata.json", METADATA)])


@case("keras-corrupt-member")
def corrupt_member():
    data = bytearray(archive(good()))
    start = data.index(b'{"module"')
    data[start + 20] ^= 0x01  # one bit of config.json's bytes: its CRC no longer matches
    return bytes(data)


@case("keras-config-not-json")
def config_not_json():
    return archive(None, members=[("metadata.json", METADATA), ("config.json", '{"class_name": "Functional", ')])


@case("keras-not-a-model")
def not_a_model():
    return archive(conv())


@case("keras-malformed")
def malformed_config():
    layers = good()["config"]["layers"]
    del layers[1]["inbound_nodes"]
    return archive(good() | {"config": good()["config"] | {"layers": layers}})


@case("keras-reads-a-later-layer")
def later_layer():
    return archive(functional([input_layer(), conv(source="relu"), layer("ReLU", "relu", {}, [tensor("conv", (6, 6, 4))])],
                              "relu"))


@case("keras-no-layers")
def no_layers():
    return archive(functional([input_layer()], "image"))


@case("keras-dynamic-input")
def dynamic_input():
    return archive(functional([input_layer(shape=(None, None, 3)), conv(shape=(None, None, 3))], "conv"))


@case("keras-unknown-layer")
def unknown_layer():
    resize = layer("Resizing", "resize", {"height": 16, "width": 16, "interpolation": "bilinear"}, [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), resize], "resize"))


@case("keras-lambda")
def lambda_layer():
    code = layer("Lambda", "double", {"function": {"class_name": "__lambda__", "config": {"code": "..."}}},
                 [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), code], "double"))


@case("keras-tfoplambda")
def tf_op_lambda():
    """Keras 2 (tf.keras) wrote `x + 1` as a TFOpLambda layer, and inbound nodes as
    [[layer, node, tensor, {kwargs}]]."""
    op = layer("TFOpLambda", "tf.math.add", {"function": "math.add"}, [])
    op["inbound_nodes"] = [[["image", 0, 0, {"y": 1.0}]]]
    return archive(functional([input_layer(), op], "tf.math.add"))


@case("keras-2-inbound-nodes")
def keras_2_inbound():
    relu = layer("ReLU", "relu", {}, [])
    relu["inbound_nodes"] = [[["image", 0, 0, {}]]]
    return archive(functional([input_layer(), relu], "relu"))


@case("keras-custom-layer")
def custom_layer():
    block = layer("Conv2D", "block", {"filters": 4}, [tensor("image", (8, 8, 3))], module="my_project.layers")
    return archive(functional([input_layer(), block], "block"))


@case("keras-relu-threshold")
def relu_threshold():
    relu = layer("ReLU", "relu", {"max_value": None, "negative_slope": 0.0, "threshold": 1.0}, [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), relu], "relu"))


@case("keras-batchnorm-axis")
def batchnorm_axis():
    norm = layer("BatchNormalization", "bn", {"axis": 1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True},
                 [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), norm], "bn"))


@case("keras-axis-batch")
def axis_batch():
    norm = layer("BatchNormalization", "bn", {"axis": 0, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True},
                 [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), norm], "bn"))


@case("keras-axis-outside")
def axis_outside():
    norm = layer("GroupNormalization", "gn", {"groups": 3, "axis": 5, "epsilon": 0.001, "center": True, "scale": True},
                 [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), norm], "gn"))


@case("keras-layernorm-axis")
def layernorm_axis():
    norm = layer("LayerNormalization", "ln", {"axis": [1], "epsilon": 0.001, "center": True, "scale": True,
                                               "rms_scaling": False}, [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), norm], "ln"))


@case("keras-prelu-axes")
def prelu_axes():
    prelu = layer("PReLU", "prelu", {"shared_axes": None}, [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), prelu], "prelu"))


@case("keras-unknown-option")
def unknown_option():
    up = layer("UpSampling2D", "up", {"size": [2, 2], "interpolation": "nearest", "data_format": "channels_last",
                                      "antialias": True}, [tensor("image", (8, 8, 3))])
    return archive(functional([input_layer(), up], "up"))


@case("keras-option-on")
def option_on():
    return archive(functional([input_layer(), conv(lora_rank=4)], "conv"))


@case("keras-data-format")
def data_format():
    second = conv("second", "conv", (6, 6, 4), data_format="channels_first")
    return archive(functional([input_layer(), conv(), second], "second"))


@case("keras-shape-differs")
def shape_differs():
    relu = layer("ReLU", "relu", {}, [tensor("conv", (8, 8, 4))])  # a 3x3 'valid' conv gives 6x6
    return archive(functional([input_layer(), conv(), relu], "relu"))


@case("keras-operation")
def operation():
    divide = layer("Divide", "divide", {}, [1.0, tensor("image", (8, 8, 3))], module="keras.src.ops.numpy")
    return archive(functional([input_layer(), divide], "divide"))


@case("keras-call-options")
def call_options():
    relu = layer("ReLU", "relu", {}, [tensor("image", (8, 8, 3))], kwargs={"mask": tensor("image", (8, 8, 3))})
    return archive(functional([input_layer(), relu], "relu"))


@case("keras-constant-argument")
def constant_argument():
    add = layer("Add", "add", {}, [[tensor("image", (8, 8, 3)), 2.0]])
    return archive(functional([input_layer(), add], "add"))


@case("keras-nested-twice")
def nested_twice():
    inner = functional([input_layer("inner_in", (8, 8, 3)), conv(source="inner_in")], "conv", inputs=("inner_in",),
                       name="inner")
    call = tensor("image", (8, 8, 3))
    model = {**inner, "name": "inner", "inbound_nodes": [{"args": [call], "kwargs": {}}, {"args": [call], "kwargs": {}}]}
    return archive(functional([input_layer(), model], "inner"))


@case("keras-input-axes", "summary FILE --input 8x8")
def input_axes():
    return archive(good())


@case("keras-input-several", "summary FILE --input 8x8x3")
def input_several():
    add = layer("Add", "add", {}, [[tensor("a", (8, 8, 3)), tensor("b", (8, 8, 3))]])
    return archive(functional([input_layer("a"), input_layer("b"), add], "add", inputs=("a", "b")))


@case("keras-weights-corrupt", "run FILE")
def weights_corrupt():
    return archive(good(), weights=b"\x89HDF\r\n\x1a\n" + bytes(200))


@case("keras-weights-count", "run FILE")
def weights_count():
    return archive(good(), weights=h5({"conv2d": ("conv", [np.zeros((3, 3, 3, 4), np.float32)])}))


@case("keras-weights-shape", "run FILE")
def weights_shape():
    kernel, bias = np.zeros((3, 3, 4, 3), np.float32), np.zeros(4, np.float32)  # in and out swapped
    return archive(good(), weights=h5({"conv2d": ("conv", [kernel, bias])}))


def main() -> None:
    for name, (build, command) in CASES.items():
        (BAD / f"{name}.keras").write_bytes(build())
        (BAD / f"{name}.cmd").write_text(command.replace("FILE", f"tests/bad/{name}.keras") + "\n")


if __name__ == "__main__":
    main()
