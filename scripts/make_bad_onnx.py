"""Write the ONNX cases of tests/bad/: small models built with onnx.helper, each wrong in
one way, and the command line (.cmd) that reads it. Run from the repository root:

    python scripts/make_bad_onnx.py

then `python -m pytest tests/test_errors.py --overwrite` records the messages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BAD = Path(__file__).resolve().parent.parent / "tests" / "bad"


def tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def weight(name, shape):
    return numpy_helper.from_array(np.full(shape, 0.1, dtype=np.float32), name)


def model(nodes, inputs=None, outputs=None, initializers=(), opset=17):
    inputs = inputs if inputs is not None else [tensor("x", [1, 3, 8, 8])]
    outputs = outputs if outputs is not None else [tensor(nodes[-1].output[0], None)]
    graph = helper.make_graph(nodes, "case", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv(name="/conv/Conv", data="x", out="y"):
    return helper.make_node("Conv", [data, "conv.weight"], [out], name=name, kernel_shape=[3, 3])


def good():
    return model([conv(), helper.make_node("Relu", ["y"], ["z"], name="/relu/Relu")],
                 initializers=[weight("conv.weight", [4, 3, 3, 3])])


CASES = {}


def case(name, command="summary FILE"):
    def register(function):
        CASES[name] = (function, command)
        return function

    return register


@case("onnx-truncated")
def truncated():
    return good().SerializeToString()[:60]


@case("onnx-empty")
def empty():
    return b""


@case("onnx-external-data-missing")
def external():
    proto = good()
    onnx.external_data_helper.convert_model_to_external_data(proto, all_tensors_to_one_file=True,
                                                            location="onnx-external-data-missing.weights", size_threshold=0)
    return proto.SerializeToString()


@case("onnx-loop")
def loop():
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                              helper.make_node("Identity", ["v_in"], ["v_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []), tensor("v_in", None)],
                             [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), tensor("v_out", None)])
    trip = numpy_helper.from_array(np.array(3, dtype=np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    nodes = [conv(), helper.make_node("Loop", ["trip", "cond", "y"], ["z"], name="/repeat/Loop", body=body)]
    return model(nodes, initializers=[weight("conv.weight", [4, 3, 3, 3]), trip, cond]).SerializeToString()


@case("onnx-if")
def branch():
    then = helper.make_graph([helper.make_node("Relu", ["y"], ["a"])], "then", [], [tensor("a", None)])
    other = helper.make_graph([helper.make_node("Sigmoid", ["y"], ["b"])], "else", [], [tensor("b", None)])
    flag = numpy_helper.from_array(np.array(True), "flag")
    nodes = [conv(), helper.make_node("If", ["flag"], ["z"], name="/choose/If", then_branch=then, else_branch=other)]
    return model(nodes, initializers=[weight("conv.weight", [4, 3, 3, 3]), flag]).SerializeToString()


@case("onnx-unsupported-operator")
def unsupported_operator():
    nodes = [conv(), helper.make_node("Sub", ["y", "y"], ["z"], name="/diff/Sub")]
    return model(nodes, initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-unsupported-attribute")
def unsupported_attribute():
    node = helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="/conv/Conv", kernel_shape=[3, 3], auto_pad="SAME_UPPER")
    return model([node], initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-dynamic-shape")
def dynamic():
    return model(good().graph.node, inputs=[tensor("x", ["n", 3, "h", "w"])],
                 initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-input-differs", "summary FILE --input 3x16x16")
def differs():
    return good().SerializeToString()


@case("onnx-input-rank", "summary FILE --input 3x16")
def input_rank():
    return model(good().graph.node, inputs=[tensor("x", [1, 3, "h", "w"])],
                 initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-two-inputs-one-shape", "summary FILE --input 3x8x8")
def two_inputs():
    nodes = [helper.make_node("Add", ["a", "b"], ["z"], name="/Add")]
    return model(nodes, inputs=[tensor("a", [1, 3, 8, 8]), tensor("b", [1, 3, 8, 8])]).SerializeToString()


@case("onnx-no-input")
def no_input():
    nodes = [helper.make_node("Relu", ["conv.weight"], ["z"], name="/relu/Relu")]
    return model(nodes, inputs=[], initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-input-without-shape")
def without_shape():
    return model(good().graph.node, inputs=[tensor("x", None)],
                 initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-input-one-axis")
def one_axis():
    nodes = [helper.make_node("Relu", ["x"], ["z"], name="/relu/Relu")]
    return model(nodes, inputs=[tensor("x", [8])]).SerializeToString()


@case("onnx-only-constants")
def only_constants():
    nodes = [helper.make_node("Shape", ["x"], ["z"], name="/Shape")]
    proto = model(nodes, outputs=[helper.make_tensor_value_info("z", TensorProto.INT64, [4])])
    return proto.SerializeToString()


@case("onnx-foreign-domain")
def foreign_domain():
    nodes = [conv(), helper.make_node("FusedThing", ["y"], ["z"], name="/fused", domain="com.example")]
    proto = model(nodes, initializers=[weight("conv.weight", [4, 3, 3, 3])])
    proto.opset_import.append(helper.make_opsetid("com.example", 1))
    return proto.SerializeToString()


@case("onnx-constant-as-data")
def constant_as_data():
    nodes = [conv(), helper.make_node("Concat", ["y", "bias"], ["z"], name="/Concat", axis=1)]
    return model(nodes, initializers=[weight("conv.weight", [4, 3, 3, 3]), weight("bias", [1, 4, 6, 6])]).SerializeToString()


@case("onnx-out-of-order")
def out_of_order():
    nodes = [helper.make_node("Relu", ["y"], ["z"], name="/relu/Relu"), conv()]
    return model(nodes, outputs=[tensor("z", None)], initializers=[weight("conv.weight", [4, 3, 3, 3])]).SerializeToString()


@case("onnx-old-opset")
def old_opset():
    return model(good().graph.node, initializers=[weight("conv.weight", [4, 3, 3, 3])], opset=6).SerializeToString()


@case("onnx-clip-range")
def clip_range():
    nodes = [conv(), helper.make_node("Clip", ["y", "low", "high"], ["z"], name="/clamp/Clip")]
    low = numpy_helper.from_array(np.array(-1.0, dtype=np.float32), "low")
    high = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "high")
    return model(nodes, initializers=[weight("conv.weight", [4, 3, 3, 3]), low, high]).SerializeToString()


def after_conv(*nodes_and_initializers):
    """A model of the conv (4 channels, 6x6) then the nodes given, the first reading its output y."""
    nodes = [n for n in nodes_and_initializers if isinstance(n, onnx.NodeProto)]
    initializers = [t for t in nodes_and_initializers if isinstance(t, onnx.TensorProto)]
    return model([conv(), *nodes], initializers=[weight("conv.weight", [4, 3, 3, 3]), *initializers]).SerializeToString()


def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


@case("onnx-slice-step")
def slice_step():
    node = helper.make_node("Slice", ["y", "starts", "ends", "axes", "steps"], ["z"], name="/every_other/Slice")
    return after_conv(node, ints("starts", [0]), ints("ends", [6]), ints("axes", [2]), ints("steps", [2]))


@case("onnx-slice-two-axes")
def slice_two_axes():
    node = helper.make_node("Slice", ["y", "starts", "ends", "axes"], ["z"], name="/corner/Slice")
    return after_conv(node, ints("starts", [0, 1]), ints("ends", [2, 5]), ints("axes", [1, 2]))


@case("onnx-transpose-batch")
def transpose_batch():
    return after_conv(helper.make_node("Transpose", ["y"], ["z"], name="/swap/Transpose", perm=[1, 0, 2, 3]))


@case("onnx-mul-weight-shape")
def mul_weight_shape():
    node = helper.make_node("Mul", ["y", "gate.weight"], ["z"], name="/gate/Mul")
    return after_conv(node, weight("gate.weight", [6]))


@case("onnx-mul-weight-scalar")
def mul_weight_scalar():
    node = helper.make_node("Mul", ["y", "gain"], ["z"], name="/gain/Mul")
    return after_conv(node, weight("gain", [1]))


@case("onnx-div-by-zero")
def div_by_zero():
    node = helper.make_node("Div", ["y", "zero"], ["z"], name="/ratio/Div")
    return after_conv(node, numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"))


@case("onnx-constant-divided")
def constant_divided():
    node = helper.make_node("Div", ["one", "y"], ["z"], name="/inverse/Div")
    return after_conv(node, numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"))


@case("onnx-reduce-channels")
def reduce_channels():
    return after_conv(helper.make_node("ReduceMean", ["y"], ["z"], name="/average/ReduceMean", axes=[1]))


@case("onnx-lppool-odd")
def lppool_odd():
    return after_conv(helper.make_node("LpPool", ["y"], ["z"], name="/pool/LpPool", p=3, kernel_shape=[2, 2]))


@case("onnx-squeeze-no-axes")
def squeeze_no_axes():
    return after_conv(helper.make_node("Squeeze", ["y"], ["z"], name="/squeeze/Squeeze"))


@case("onnx-depth-to-space-dcr")
def depth_to_space_dcr():
    return after_conv(helper.make_node("DepthToSpace", ["y"], ["z"], name="/shuffle/DepthToSpace", blocksize=2))


@case("onnx-prelu-fixed-slope")
def prelu_fixed_slope():
    slope = helper.make_node("Constant", [], ["slope"], name="/act/Constant",
                             value=numpy_helper.from_array(np.full((4, 1, 1), 0.25, dtype=np.float32)))
    return after_conv(slope, helper.make_node("PRelu", ["y", "slope"], ["z"], name="/act/PRelu"))


@case("onnx-erf-alone")
def erf_alone():
    return after_conv(helper.make_node("Erf", ["y"], ["z"], name="/erf/Erf"))


@case("onnx-resize-nearest-mode")
def resize_nearest_mode():
    node = helper.make_node("Resize", ["y", "", "scales"], ["z"], name="/up/Resize", mode="nearest",
                            coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor")
    return after_conv(node, numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"))


@case("import-not-onnx", "import examples/lenet5.yaml")
def not_onnx():
    return None


def main() -> None:
    for name, (build, command) in CASES.items():
        data = build()
        if data is not None:
            (BAD / f"{name}.onnx").write_bytes(data)
        (BAD / f"{name}.cmd").write_text(command.replace("FILE", f"tests/bad/{name}.onnx") + "\n")


if __name__ == "__main__":
    main()
