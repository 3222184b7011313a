"""ONNX export of SoftmaxRegression through skl2onnx (the ``softreg[onnx]`` extra).

This module imports skl2onnx and onnx; only :mod:`softreg.onnx` imports it,
never ``import softreg``. The graph is the estimator's own predict path,
operator for operator:

1. scores ``Z = X @ coef_.T + intercept_`` (which hold any temperature or
   calibration map: ``temperature_`` is a record, not applied);
2. the normalizer, written in ONNX operators by a builder from
   :data:`BUILDERS` (the same steps, in the same order, as its numpy code);
3. ``label = classes_[argmax(proba)]``.

A normalizer that is not built in can provide its own graph with a method
``onnx_proba(Z, op_version, dtype)`` returning an skl2onnx algebra node.
"""

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_ops import (
    OnnxAbs,
    OnnxAdd,
    OnnxArgMax,
    OnnxArrayFeatureExtractor,
    OnnxCast,
    OnnxCumSum,
    OnnxDiv,
    OnnxExp,
    OnnxGatherElements,
    OnnxGreater,
    OnnxIdentity,
    OnnxLessOrEqual,
    OnnxLog,
    OnnxMatMul,
    OnnxMax,
    OnnxMul,
    OnnxNeg,
    OnnxReduceMaxApi18,
    OnnxReduceSumApi11,
    OnnxRelu,
    OnnxReshapeApi13,
    OnnxSoftmax,
    OnnxSqrt,
    OnnxSub,
    OnnxTopK,
    OnnxWhere,
)
from skl2onnx.common.data_types import guess_numpy_type
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

from .normalizers import Entmax15, Softmax, Sparsemax, Spherical, Standard, Taylor

#: skl2onnx alias of the converter.
ALIAS = "SoftregSoftmaxRegression"
#: Options every skl2onnx classifier accepts.
OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False]}


class _Ops:
    """Shorthands binding the opset and dtype of one conversion."""

    def __init__(self, op_version, dtype):
        self.v = op_version
        self.dtype = dtype

    def c(self, value):
        """A constant in the graph's float dtype."""
        return np.asarray(value, dtype=self.dtype)

    def rowmax(self, x):
        return OnnxReduceMaxApi18(x, axes=[1], keepdims=1, op_version=self.v)

    def rowmin(self, x):
        return OnnxNeg(self.rowmax(OnnxNeg(x, op_version=self.v)), op_version=self.v)

    def rowsum(self, x):
        return OnnxReduceSumApi11(x, axes=[1], keepdims=1, op_version=self.v)

    def add(self, a, b):
        return OnnxAdd(a, b, op_version=self.v)

    def sub(self, a, b):
        return OnnxSub(a, b, op_version=self.v)

    def mul(self, a, b):
        return OnnxMul(a, b, op_version=self.v)

    def div(self, a, b):
        return OnnxDiv(a, b, op_version=self.v)

    def relu(self, x):
        return OnnxRelu(x, op_version=self.v)

    def sorted_desc(self, x, n_classes):
        """Each row sorted in decreasing order (TopK with k = n_classes)."""
        top = OnnxTopK(
            x,
            np.array([n_classes], dtype=np.int64),
            axis=1,
            largest=1,
            sorted=1,
            op_version=self.v,
        )
        return top[0]

    def count(self, condition):
        """Row-wise number of true entries, in the float dtype, shape (n, 1)."""
        as_float = OnnxCast(condition, to=_proto(self.dtype), op_version=self.v)
        return self.rowsum(as_float)

    def gather(self, x, k):
        """``x[i, k[i] - 1]`` for a float count ``k`` of shape (n, 1)."""
        index = OnnxCast(
            self.sub(k, self.c(1)), to=TensorProto.INT64, op_version=self.v
        )
        return OnnxGatherElements(x, index, axis=1, op_version=self.v)

    def softplus(self, x):
        """``log(1 + e^x)`` without overflow: ``max(x, 0) + log(1 + e^-|x|)``."""
        tail = OnnxExp(
            OnnxNeg(OnnxAbs(x, op_version=self.v), op_version=self.v), op_version=self.v
        )
        return self.add(
            self.relu(x), OnnxLog(self.add(tail, self.c(1)), op_version=self.v)
        )


def _proto(dtype):
    return TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT


def _softmax(normalizer, Z, n_classes, ops):
    return OnnxSoftmax(Z, axis=1, op_version=ops.v)


def _quadratic(shift, c):
    """``p ∝ (z + shift)^2 + c``, without squaring a large score.

    numpy computes ``h = hypot(u, sqrt(c))`` and ``h / max(h)``; here ``u``
    is first divided by ``s = max(max |u|, sqrt(c))``, which cancels in the
    ratio, so scores up to the dtype's maximum give finite probabilities.
    """
    root_c = float(np.sqrt(c))

    def build(Z, ops):
        U = ops.add(Z, ops.c(shift)) if shift else Z
        s = OnnxMax(
            ops.rowmax(OnnxAbs(U, op_version=ops.v)), ops.c(root_c), op_version=ops.v
        )
        V = ops.div(U, s)
        r = ops.div(ops.c(root_c), s)
        G = OnnxSqrt(ops.add(ops.mul(V, V), ops.mul(r, r)), op_version=ops.v)
        R = ops.div(G, ops.rowmax(G))
        R2 = ops.mul(R, R)
        return ops.div(R2, ops.rowsum(R2))

    return build


def _taylor(normalizer, Z, n_classes, ops):
    return _quadratic(*normalizer._shift_and_floor())(Z, ops)


_spherical = _taylor


def _sparsemax(normalizer, Z, n_classes, ops):
    # softreg.normalizers._sparse._sparsemax_parts, step by step.
    X = OnnxMax(ops.sub(Z, ops.rowmax(Z)), ops.c(-2), op_version=ops.v)
    srt = ops.sorted_desc(X, n_classes)
    cs = OnnxCumSum(srt, np.array(1, dtype=np.int64), op_version=ops.v)
    k = ops.c(np.arange(1, n_classes + 1)[None, :])
    in_support = OnnxGreater(ops.add(ops.mul(k, srt), ops.c(1)), cs, op_version=ops.v)
    k_z = ops.count(in_support)
    tau = ops.div(ops.sub(ops.gather(cs, k_z), ops.c(1)), k_z)
    return ops.relu(ops.sub(X, tau))


def _entmax15(normalizer, Z, n_classes, ops):
    # softreg.normalizers._sparse._entmax15_parts: the closed-form threshold
    # of the top-k sorted half-scores, mean_k - sqrt(1/k - var_k).
    X = OnnxMax(ops.sub(Z, ops.rowmax(Z)), ops.c(-4), op_version=ops.v)
    X = ops.mul(X, ops.c(0.5))
    srt = ops.sorted_desc(X, n_classes)
    one = np.array(1, dtype=np.int64)
    k = ops.c(np.arange(1, n_classes + 1)[None, :])
    mean = ops.div(OnnxCumSum(srt, one, op_version=ops.v), k)
    mean_sq = ops.div(OnnxCumSum(ops.mul(srt, srt), one, op_version=ops.v), k)
    delta = ops.sub(mean_sq, ops.div(ops.c(1), k))
    delta = OnnxSqrt(ops.relu(ops.sub(ops.mul(mean, mean), delta)), op_version=ops.v)
    tau = ops.sub(mean, delta)
    k_z = ops.count(OnnxLessOrEqual(tau, srt, op_version=ops.v))
    S = ops.relu(ops.sub(X, ops.gather(tau, k_z)))
    return ops.mul(S, S)


def _standard(normalizer, Z, n_classes, ops):
    # softreg.normalizers._standard.Standard._parts and __call__.
    floor, eps = normalizer._hyperparameters()
    top = OnnxMax(
        ops.rowmax(OnnxAbs(Z, op_version=ops.v)), ops.c(eps), op_version=ops.v
    )
    Zt = ops.div(Z, top)
    ratio = ops.div(ops.c(eps), top)
    rho = ops.mul(
        top,
        OnnxSqrt(
            ops.add(ops.rowsum(ops.mul(Zt, Zt)), ops.mul(ratio, ratio)),
            op_version=ops.v,
        ),
    )
    m = ops.rowmin(Z)
    Pi = OnnxExp(ops.div(ops.sub(m, Z), ops.c(eps)), op_version=ops.v)
    log_pi_sum = OnnxLog(ops.rowsum(Pi), op_version=ops.v)
    floor_rho = ops.mul(ops.c(floor), rho)
    L = ops.add(ops.div(ops.sub(floor_rho, m), ops.c(eps)), log_pi_sum)
    low = ops.add(
        floor_rho,
        ops.mul(
            ops.c(eps), ops.add(log_pi_sum, ops.softplus(OnnxNeg(L, op_version=ops.v)))
        ),
    )
    shifted = ops.add(ops.sub(Z, m), low)
    lifted = ops.add(Z, ops.mul(ops.c(eps), ops.softplus(L)))
    Q = OnnxWhere(
        OnnxGreater(L, ops.c(0), op_version=ops.v), shifted, lifted, op_version=ops.v
    )
    Q = ops.add(Q, ops.c(eps))
    return ops.div(Q, ops.rowsum(Q))


#: The ONNX form of each built-in normalizer, by exact class: a subclass may
#: change the map, so it must bring its own ``onnx_proba``.
BUILDERS = {
    Softmax: _softmax,
    Taylor: _taylor,
    Spherical: _spherical,
    Sparsemax: _sparsemax,
    Entmax15: _entmax15,
    Standard: _standard,
}


def normalizer_graph(normalizer, Z, n_classes, op_version, dtype):
    """The probabilities of scores ``Z`` as skl2onnx algebra operators.

    Raises
    ------
    NotImplementedError
        For a normalizer that is not built in and has no ``onnx_proba``.
    """
    ops = _Ops(op_version, dtype)
    builder = BUILDERS.get(type(normalizer))
    if builder is not None:
        return builder(normalizer, Z, n_classes, ops)
    own = getattr(normalizer, "onnx_proba", None)
    if callable(own):
        return own(Z, op_version=op_version, dtype=dtype)
    raise NotImplementedError(
        f"softreg cannot export the normalizer {type(normalizer).__name__} to "
        "ONNX: only the built-in normalizers have an ONNX form. Define a method "
        "onnx_proba(self, Z, op_version, dtype) that returns the probabilities "
        "of the score node Z as skl2onnx algebra operators "
        "(skl2onnx.algebra.onnx_ops, with op_version=op_version and constants "
        "of dtype dtype)."
    )


def _class_labels(classes):
    """``classes_`` as an int64 or string tensor for ArrayFeatureExtractor."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        return classes.astype(np.int64)
    if classes.dtype.kind in "OUS" and all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    raise TypeError(
        "ONNX labels must be all integers or all strings; classes_ has dtype "
        f"{classes.dtype} ({classes[:3].tolist()}...). Encode the labels first."
    )


def shape_calculator(operator):
    """skl2onnx shape calculator: label (n,) and probabilities (n, n_classes)."""
    calculate_linear_classifier_output_shapes(operator)


def converter(scope, operator, container):
    """skl2onnx converter for SoftmaxRegression (and estimators like it)."""
    model = operator.raw_operator
    opv = container.target_opset
    if opv < 13:
        raise RuntimeError(
            f"softreg's ONNX export needs target_opset >= 13, got {opv}."
        )
    X = operator.inputs[0]
    dtype = guess_numpy_type(X.type)
    if dtype not in (np.float32, np.float64):
        dtype = np.float32
        X = OnnxCast(X, to=TensorProto.FLOAT, op_version=opv)
    dtype = np.dtype(dtype)
    ops = _Ops(opv, dtype)
    Z = ops.add(
        OnnxMatMul(X, ops.c(model.coef_.T), op_version=opv), ops.c(model.intercept_)
    )
    n_classes = len(model.classes_)
    proba = normalizer_graph(model.normalizer_, Z, n_classes, opv, dtype)
    out_label, out_proba = operator.outputs[0], operator.outputs[1]
    OnnxIdentity(proba, op_version=opv, output_names=[out_proba]).add_to(
        scope, container
    )
    index = OnnxArgMax(proba, axis=1, keepdims=0, op_version=opv)
    labels = OnnxArrayFeatureExtractor(
        _class_labels(model.classes_), index, op_version=opv
    )
    OnnxReshapeApi13(
        labels, np.array([-1], dtype=np.int64), op_version=opv, output_names=[out_label]
    ).add_to(scope, container)


def register(estimator_class, alias=ALIAS):
    """Register the converter, shape calculator and parser for a class."""
    update_registered_converter(
        estimator_class, alias, shape_calculator, converter, options=OPTIONS
    )
