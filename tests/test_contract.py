"""The linear-model contract: ``coef_`` and ``intercept_`` are the scores' coefficients.

For every normalizer, temperature and calibration setting, and every input
kind (NumPy, scipy.sparse, Dask, array API), a fitted model's predictions are
the normalizer of ``Z = X @ coef_.T + intercept_``; for the normalizers whose
``decision`` is the scores themselves (softmax, sparsemax, entmax15),
``decision_function(X) == Z``, as for scikit-learn's linear classifiers.
Every consumer of ``coef_`` inside softreg (sparsify, warm starts,
SoftmaxRegressionCV's paths and refit, inference, ONNX export) agrees.

The references are computed here from ``coef_`` in NumPy float64 (and, for
softmax, by :func:`scipy.special.softmax`); "up to rounding" is a few ulps
of the scores, so the tolerances are multiples of float64's epsilon times
the scores' magnitude.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import softmax
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression, SoftmaxRegressionCV
from softreg.normalizers._registry import NORMALIZERS

# The built-ins whose documented decision is the scores themselves.
SCORES_DECISION = ["softmax", "sparsemax", "entmax15"]
SETTINGS = {
    "T=1": {},
    "T=2": {"temperature": 2.0},
    "T=0.5": {"temperature": 0.5},
    "auto": {"temperature": "auto"},
    "calibration=temperature": {"calibration": "temperature"},
    "calibration=vector": {"calibration": "vector"},
    "calibration=ensemble": {"calibration": "ensemble"},
}
INPUTS = ["numpy", "sparse", "dask", "array_api"]


def _problem(n_classes=3):
    X, y = make_classification(
        n_samples=180,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=1,
    )
    return StandardScaler().fit_transform(X), y


def _fit(normalizer, setting, X, y):
    params = {"cv": 3, "random_state": 0, "tol": 1e-6, "max_iter": 300}
    if setting == "calibration=ensemble" and not NORMALIZERS[normalizer].convex:
        pytest.skip("calibration='ensemble' needs a convex normalizer")
    return SoftmaxRegression(normalizer=normalizer, **params, **SETTINGS[setting]).fit(
        X, y
    )


def _scores(model, X):
    """The reference scores X @ coef_.T + intercept_, in float64 on the host."""
    coef = model.coef_.toarray() if sp.issparse(model.coef_) else model.coef_
    return X @ np.asarray(coef, dtype=np.float64).T + np.asarray(model.intercept_)


def _predict_on(kind, model, X, method):
    """``model.method`` on ``X`` given as ``kind``, brought back to NumPy."""
    if kind == "numpy":
        return getattr(model, method)(X)
    if kind == "sparse":
        return getattr(model, method)(sp.csr_matrix(X))
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return np.asarray(getattr(model, method)(da.from_array(X, chunks=70)).compute())
    xps = pytest.importorskip("array_api_strict")
    from sklearn.utils._array_api import _convert_to_numpy, move_estimator_to

    with sklearn.config_context(array_api_dispatch=True):
        device_model = move_estimator_to(model, xps, xps.Device("CPU_DEVICE"))
        # As a fit on the device leaves it (labels may be strings): on the host.
        device_model.classes_ = model.classes_
        out = getattr(device_model, method)(xps.asarray(X))
        return _convert_to_numpy(out, xps)


def _assert_contract(model, X, kind):
    Z = _scores(model, X)
    tol = 64 * np.finfo(np.float64).eps * max(1.0, np.abs(Z).max())
    normalizer = model.normalizer_
    proba = _predict_on(kind, model, X, "predict_proba")
    assert_allclose(proba, normalizer(Z), rtol=0, atol=tol)
    if model.normalizer == "softmax":
        assert_allclose(proba, softmax(Z, axis=1), rtol=0, atol=tol)
    decision = _predict_on(kind, model, X, "decision_function")
    expected = normalizer.decision(Z)
    if model.normalizer in SCORES_DECISION:
        assert_array_equal(expected, Z)  # the documented property
    if Z.shape[1] == 2:
        expected = expected[:, 1] - expected[:, 0]
    assert_allclose(decision, expected, rtol=0, atol=tol)
    labels = _predict_on(kind, model, X, "predict")
    assert_array_equal(labels, model.classes_[proba.argmax(axis=1)])


@pytest.fixture(scope="module")
def fitted():
    """One model per (normalizer, setting), fitted on NumPy input."""
    X, y = _problem()
    cache = {}

    def get(normalizer, setting):
        if (normalizer, setting) not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                cache[normalizer, setting] = _fit(normalizer, setting, X, y)
        return cache[normalizer, setting]

    return X, get


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("normalizer", sorted(NORMALIZERS))
def test_predictions_are_the_normalizer_of_x_coef_plus_intercept(
    fitted, normalizer, setting, kind
):
    X, get = fitted
    model = get(normalizer, setting)
    if setting not in ("T=1", "calibration=vector", "calibration=ensemble"):
        assert model.temperature_ != 1.0  # the temperature is in coef_ ...
    _assert_contract(model, X, kind)  # ... and in nothing else


@pytest.mark.parametrize("setting", ["T=2", "auto", "calibration=temperature"])
def test_a_fit_on_every_input_kind_keeps_the_contract(setting):
    X, y = _problem()
    params = {"cv": 3, "random_state": 0, "tol": 1e-6, **SETTINGS[setting]}
    reference = SoftmaxRegression(**params).fit(X, y)
    da = pytest.importorskip("dask.array")
    xps = pytest.importorskip("array_api_strict")
    models = {
        "sparse": SoftmaxRegression(**params).fit(sp.csr_matrix(X), y),
        "dask": SoftmaxRegression(**params).fit(
            da.from_array(X, chunks=60), da.from_array(y, chunks=60)
        ),
    }
    with sklearn.config_context(array_api_dispatch=True):
        from sklearn.utils._array_api import move_estimator_to

        on_device = SoftmaxRegression(**params).fit(xps.asarray(X), xps.asarray(y))
        models["array_api"] = move_estimator_to(on_device, np, "cpu")
    for kind, model in models.items():
        _assert_contract(model, X, kind if kind != "array_api" else "numpy")
        if kind == "sparse":  # the same data and folds: the same model
            assert_allclose(model.coef_, reference.coef_, rtol=1e-6, atol=1e-8)
    _assert_contract(on_device, X, "array_api")


def test_binary_decision_is_the_difference_of_the_two_rows():
    X, y = _problem(n_classes=2)
    model = SoftmaxRegression(temperature=2.0).fit(X, y)
    w = model.coef_[1] - model.coef_[0]
    b = model.intercept_[1] - model.intercept_[0]
    assert_allclose(model.decision_function(X), X @ w + b, rtol=1e-12, atol=1e-12)
    _assert_contract(model, X, "numpy")


def test_fixed_temperature_is_the_c_reparametrisation_coef_included():
    # (T, C) under L2 gives the predictions of (1, C / T**2); coef_ being the
    # scores' coefficients, it is that model's coef_ too, bounds included.
    X, y = _problem()
    T, C = 2.0, 0.3
    tight = {"tol": 1e-10, "max_iter": 10_000}
    for bounds in (None, (-0.4, 0.5)):
        hot = SoftmaxRegression(C=C, temperature=T, bounds=bounds, **tight).fit(X, y)
        cold = SoftmaxRegression(C=C / T**2, bounds=bounds, **tight).fit(X, y)
        assert_allclose(hot.coef_, cold.coef_, atol=1e-7)
        assert_allclose(hot.intercept_, cold.intercept_, atol=1e-7)
        if bounds is not None:
            assert hot.coef_.min() >= -0.4
            assert hot.coef_.max() <= 0.5
            assert np.isclose(hot.coef_, 0.5).any()  # a bound is active


def test_post_hoc_temperature_keeps_sign_constraints():
    X, y = _problem()
    model = SoftmaxRegression(
        calibration="temperature", bounds=(0, np.inf), random_state=0
    ).fit(X, y)
    assert model.temperature_ != 1.0
    assert model.coef_.min() >= 0
    _assert_contract(model, X, "numpy")


def test_sparsify_keeps_the_contract():
    X, y = _problem()
    model = SoftmaxRegression(temperature=2.0, l1_ratio=1.0, C=0.2).fit(X, y)
    dense = model.decision_function(X)
    model.sparsify()
    assert sp.issparse(model.coef_)
    assert_allclose(model.decision_function(X), dense, rtol=1e-12, atol=1e-12)
    _assert_contract(model, X, "sparse")


@pytest.mark.parametrize("start", [{}, {"temperature": "auto"}, {"temperature": 3.0}])
def test_warm_start_starts_from_the_previous_scores(start):
    # With max_iter=0 a warm start keeps its starting point: the previous
    # model's coef_ and intercept_, whatever the new fit's temperature.
    X, y = _problem()
    model = SoftmaxRegression(cv=3, random_state=0, **start).fit(X, y)
    before = model.decision_function(X)
    model.set_params(temperature=2.0, calibration=None, warm_start=True, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.temperature_ == 2.0
    assert_allclose(model.decision_function(X), before, rtol=1e-12, atol=1e-12)


def test_warm_start_at_the_same_temperature_converges_at_once():
    X, y = _problem()
    model = SoftmaxRegression(temperature=2.0, tol=1e-8, max_iter=1000).fit(X, y)
    coef = model.coef_.copy()
    model.set_params(warm_start=True).fit(X, y)
    assert model.n_iter_ <= 1
    assert_allclose(model.coef_, coef, atol=1e-8)


@pytest.mark.parametrize("setting", ["T=2", "auto", "calibration=vector"])
def test_cv_refit_and_paths_keep_the_contract(setting):
    X, y = _problem()
    params = {"Cs": [0.1, 1.0, 10.0], "cv": 3, "tol": 1e-8, "max_iter": 1000}
    cv = SoftmaxRegressionCV(**params, **SETTINGS[setting]).fit(X, y)
    _assert_contract(cv, X, "numpy")
    if setting == "T=2":
        # The refit is SoftmaxRegression at the chosen C and temperature ...
        single = SoftmaxRegression(C=cv.C_, temperature=2.0, tol=1e-8).fit(X, y)
        assert_allclose(cv.coef_, single.coef_, atol=1e-6)
        # ... and a path's entry is that fold's model, on the same scale.
        train = np.setdiff1d(np.arange(y.size), np.arange(y.size)[::3])
        folds = [(train, np.arange(y.size)[::3])]
        one = SoftmaxRegressionCV(**{**params, "cv": folds}, temperature=2.0)
        one.fit(X, y)
        fold = SoftmaxRegression(C=1.0, temperature=2.0, tol=1e-8).fit(
            X[train], y[train]
        )
        assert_allclose(one.coefs_paths_[0, 0, 1, :, :-1], fold.coef_, atol=1e-6)
    if setting == "auto":
        plain = SoftmaxRegression(C=cv.C_, tol=1e-8, max_iter=1000).fit(X, y)
        assert_allclose(cv.coef_ * cv.temperature_, plain.coef_, atol=1e-6)


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_cv_at_a_fixed_temperature_is_the_c_reparametrisation(scoring):
    # The folds' models are scored through coef_ alone (a scorer predicts
    # with them): the same scores_ and coef_ as the grid C / T**2 at T = 1.
    X, y = _problem()
    T, Cs = 2.0, np.array([0.1, 1.0, 10.0])
    params = {"cv": 3, "tol": 1e-10, "max_iter": 1000, "scoring": scoring}
    hot = SoftmaxRegressionCV(Cs=Cs, temperature=T, **params).fit(X, y)
    cold = SoftmaxRegressionCV(Cs=Cs / T**2, **params).fit(X, y)
    assert_allclose(hot.scores_, cold.scores_, atol=1e-7)
    assert_allclose(hot.coefs_paths_, cold.coefs_paths_, atol=1e-6)
    assert_allclose(hot.coef_, cold.coef_, atol=1e-6)


def test_inference_is_reported_on_the_scale_of_coef():
    X, y = _problem()
    T, C = 2.0, 0.5
    tight = {"tol": 1e-10, "max_iter": 10_000}
    hot = SoftmaxRegression(C=C, temperature=T, **tight).fit(X, y)
    cold = SoftmaxRegression(C=C / T**2, **tight).fit(X, y)
    a, b = hot.inference(X, y), cold.inference(X, y)
    for key in ("params", "bse", "zvalues", "ci_low", "ci_high", "cov"):
        assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-6, atol=1e-9)
    # params are coef_'s reference-class differences.
    assert_allclose(a.params[:, 1:], hot.coef_[1:] - hot.coef_[0], rtol=1e-12)
    # temperature="auto": the T=1 fit's table, rescaled by 1 / temperature_.
    plain = SoftmaxRegression(C=C, **tight).fit(X, y)
    auto = SoftmaxRegression(C=C, temperature="auto", random_state=0, **tight)
    auto.fit(X, y)
    p, q = plain.inference(X, y), auto.inference(X, y)
    t = auto.temperature_
    assert_allclose(q.params, p.params / t, rtol=1e-9, atol=1e-12)
    assert_allclose(q.bse, p.bse / t, rtol=1e-9)
    assert_allclose(q.zvalues, p.zvalues, rtol=1e-9)
    assert q.llf == pytest.approx(p.llf, rel=1e-12)
    # calibration="temperature" is temperature="auto": also trained at T = 1.
    cal = SoftmaxRegression(C=C, calibration="temperature", random_state=0, **tight)
    r = cal.fit(X, y).inference(X, y)
    assert cal.temperature_ == pytest.approx(t, rel=1e-12)
    assert_allclose(r.zvalues, p.zvalues, rtol=1e-9)
    assert_allclose(r.params, p.params / t, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("setting", ["T=2", "auto", "calibration=vector"])
@pytest.mark.parametrize("normalizer", SCORES_DECISION)
def test_onnx_export_uses_coef_alone(normalizer, setting):
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    import softreg.onnx

    softreg.onnx.register()

    X, y = _problem()
    model = _fit(normalizer, setting, X, y)
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    session = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    assert_allclose(proba, model.normalizer_(_scores(model, X)), atol=1e-10)
    assert_array_equal(label, model.predict(X))
