"""ONNX export: onnxruntime against predict_proba and predict."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import softreg
from softreg import SoftmaxRegression
from softreg.normalizers import Softmax

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
softreg_onnx = pytest.importorskip("softreg.onnx")

NORMALIZERS = ["softmax", "taylor", "spherical", "sparsemax", "entmax15", "standard"]
TOL = {np.float32: 1e-5, np.float64: 1e-10}
NAMES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture(scope="module", autouse=True)
def registered():
    softreg_onnx.register()


def _run(onx, X):
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return session.run(None, {name: X})


def _data(n_classes, dtype):
    X, y = load_iris(return_X_y=True)
    keep = y < n_classes
    X, y = X[keep], NAMES[y[keep]]
    # Spread-out rows and scores far from zero: sparse supports of every
    # size, saturated probabilities and the Standard normalizer's shift.
    rng = np.random.default_rng(0)
    extra = rng.normal(scale=8, size=(40, 4)) + X.mean(axis=0)
    return np.vstack([X, extra]).astype(dtype), y


@pytest.mark.parametrize("normalizer", NORMALIZERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.37])
def test_onnxruntime_matches_predict_proba(normalizer, n_classes, dtype, temperature):
    X, y = _data(n_classes, dtype)
    clf = SoftmaxRegression(
        normalizer=normalizer, temperature=temperature, C=10.0, max_iter=300
    ).fit(X[: len(y)], y)
    onx = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})
    label, proba = _run(onx, X)
    expected = clf.predict_proba(X)
    assert proba.dtype == dtype
    assert proba.shape == (X.shape[0], n_classes)
    assert_allclose(proba, expected, rtol=0, atol=TOL[dtype])
    assert_array_equal(label, clf.predict(X))
    # Sparse normalizers: the exact zeros are kept.
    if normalizer in ("sparsemax", "entmax15"):
        assert_array_equal(proba == 0, expected == 0)


def test_auto_temperature_is_exported():
    X, y = _data(3, np.float64)
    clf = SoftmaxRegression(temperature="auto", random_state=0).fit(X[: len(y)], y)
    assert clf.temperature_ != 1.0
    label, proba = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-10)
    assert_array_equal(label, clf.predict(X))


@pytest.mark.parametrize("calibration", ["vector", "ensemble"])
def test_calibrated_model_is_exported(calibration):
    # The map is folded into coef_ and intercept_: nothing new to export.
    X, y = _data(3, np.float64)
    clf = SoftmaxRegression(calibration=calibration, random_state=0)
    clf.fit(X[: len(y)], y)
    label, proba = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-10)
    assert_array_equal(label, clf.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pipeline_with_scaler(dtype):
    X, y = _data(3, dtype)
    pipe = make_pipeline(
        StandardScaler(), SoftmaxRegression(normalizer="entmax15")
    ).fit(X[: len(y)], y)
    label, proba = _run(skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}), X)
    assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=TOL[dtype])
    assert_array_equal(label, pipe.predict(X))


def test_zipmap_outputs():
    X, y = _data(3, np.float32)
    clf = SoftmaxRegression().fit(X[: len(y)], y)
    expected = clf.predict_proba(X)
    _, as_dicts = _run(skl2onnx.to_onnx(clf, X[:1]), X)
    assert [sorted(d) for d in as_dicts[:1]] == [sorted(NAMES)]
    got = np.array([[d[c] for c in clf.classes_] for d in as_dicts])
    assert_allclose(got, expected, atol=1e-5)
    columns = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": "columns"}), X)
    assert_allclose(np.column_stack(columns[1:]), expected, atol=1e-5)


def test_integer_and_boolean_labels():
    X, y = _data(2, np.float64)
    for labels in (np.where(y == NAMES[0], 3, 7), y == NAMES[0]):
        clf = SoftmaxRegression().fit(X[: len(y)], labels)
        label, proba = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
        assert_array_equal(label.astype(labels.dtype), clf.predict(X))
        assert_allclose(proba, clf.predict_proba(X), atol=1e-10)


def test_extreme_scores_stay_finite():
    X, y = _data(3, np.float64)
    for normalizer in NORMALIZERS:
        clf = SoftmaxRegression(normalizer=normalizer, C=10.0, max_iter=300)
        clf.fit(X[: len(y)], y)
        big = X * 1e6
        _, proba = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), big)
        assert np.isfinite(proba).all(), normalizer
        assert_allclose(proba, clf.predict_proba(big), rtol=0, atol=1e-9)


class _HalfSoftmax(Softmax):
    """Softmax of z / 2: a user normalizer."""

    def __call__(self, Z):
        return super().__call__(Z / 2)

    def loss_gradient(self, Y, Z):
        loss, grad = super().loss_gradient(Y, Z / 2)
        return loss, grad / 2


class _HalfSoftmaxWithGraph(_HalfSoftmax):
    def onnx_proba(self, Z, op_version, dtype):
        from skl2onnx.algebra.onnx_ops import OnnxMul, OnnxSoftmax

        half = OnnxMul(Z, np.array(0.5, dtype=dtype), op_version=op_version)
        return OnnxSoftmax(half, axis=1, op_version=op_version)


def test_user_normalizer_needs_onnx_proba():
    X, y = _data(3, np.float64)
    clf = SoftmaxRegression(normalizer=_HalfSoftmax()).fit(X[: len(y)], y)
    with pytest.raises(NotImplementedError, match=r"_HalfSoftmax.*onnx_proba\(self, Z"):
        skl2onnx.to_onnx(clf, X[:1])
    clf = SoftmaxRegression(normalizer=_HalfSoftmaxWithGraph()).fit(X[: len(y)], y)
    _, proba = _run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert_allclose(proba, clf.predict_proba(X), atol=1e-10)


def test_registers_a_cv_estimator_when_softreg_has_one(monkeypatch):
    class SoftmaxRegressionCV(SoftmaxRegression):
        pass

    monkeypatch.setattr(
        softreg, "SoftmaxRegressionCV", SoftmaxRegressionCV, raising=False
    )
    softreg_onnx.register()
    X, y = _data(3, np.float64)
    clf = SoftmaxRegressionCV(normalizer="sparsemax").fit(X[: len(y)], y)
    _, proba = _run(softreg_onnx.to_onnx(clf, X[:1], options={"zipmap": False}), X)
    assert_allclose(proba, clf.predict_proba(X), atol=1e-10)


def test_import_softreg_does_not_import_onnx():
    code = (
        "import sys, softreg; from softreg import SoftmaxRegression; "
        "print(sorted(m for m in ('onnx', 'skl2onnx', 'onnxruntime') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# --- the normalizer graphs on hostile scores (hypothesis) -------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from softreg.normalizers._registry import NORMALIZERS as _BY_NAME  # noqa: E402

_SESSIONS = {}


def _identity_model_session(name, n_classes, dtype):
    """A session whose probabilities are ``normalizer(Z)`` of its input ``Z``.

    A "fitted" model with ``coef_ = I`` and zero intercepts: the scores are the
    input exactly (``z * 1 + 0 * ...`` is exact), so the graph's normalizer is
    compared with numpy's on any score matrix.
    """
    key = (name, n_classes, dtype)
    if key not in _SESSIONS:
        model = SoftmaxRegression(normalizer=name)
        model.coef_ = np.eye(n_classes, dtype=dtype)
        model.intercept_ = np.zeros(n_classes, dtype=dtype)
        model.classes_ = np.arange(n_classes)
        model.normalizer_ = _BY_NAME[name]()
        model.temperature_ = 1.0
        model.n_features_in_ = n_classes
        onx = skl2onnx.to_onnx(
            model, np.zeros((1, n_classes), dtype=dtype), options={"zipmap": False}
        )
        _SESSIONS[key] = (
            model.normalizer_,
            ort.InferenceSession(
                onx.SerializeToString(), providers=["CPUExecutionProvider"]
            ),
        )
    return _SESSIONS[key]


@st.composite
def _hostile_scores(draw, top=1e300):
    n = draw(st.integers(1, 5))
    k = draw(st.integers(2, 6))
    scale = draw(st.sampled_from([1e-300, 1e-8, 1.0, 30.0, 1e4, 1e150, 1e300]))
    Z = draw(arrays(np.float64, (n, k), elements=st.floats(-1, 1))) * min(scale, top)
    kind = draw(st.sampled_from(["plain", "ties", "dominant", "equal"]))
    if kind == "ties":
        Z[:, 1] = Z[:, 0]
    elif kind == "dominant":
        Z[:, draw(st.integers(0, k - 1))] = top
    elif kind == "equal":
        Z[:] = Z[:, :1]
    return Z


@pytest.mark.parametrize("name", NORMALIZERS)
@settings(max_examples=30, deadline=None)
@given(Z=_hostile_scores())
def test_graph_equals_numpy_on_hostile_scores(name, Z):
    _check_graph(name, Z, atol=1e-12)


@pytest.mark.parametrize("name", NORMALIZERS)
@settings(max_examples=20, deadline=None)
@given(Z=_hostile_scores(top=1e30))
def test_float32_graph_equals_numpy_on_hostile_scores(name, Z):
    _check_graph(name, Z.astype(np.float32), atol=1e-5)


def _check_graph(name, Z, atol):
    normalizer, session = _identity_model_session(name, Z.shape[1], Z.dtype)
    label, proba = session.run(None, {"X": Z})
    expected = normalizer(Z)
    assert proba.dtype == Z.dtype
    assert np.isfinite(proba).all()
    assert_allclose(proba, expected, rtol=0, atol=atol)
    # Labels agree wherever the top two probabilities are apart by more than
    # rounding (z = (0, 5e-9) under Spherical ties to the last bit).
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > atol
    assert_array_equal(label[clear], expected.argmax(axis=1)[clear])
