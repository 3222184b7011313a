"""Array API input (softreg._xp): fits and predictions on the input's device.

The references are the NumPy fits of the same data (every normalizer and
solver), scikit-learn's LogisticRegression under the same dispatch, and
scikit-learn's own namespace/device checks.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils._array_api import (
    _convert_to_numpy,
    get_namespace_and_device,
    move_estimator_to,
)

from softreg import SoftmaxRegression
from softreg._objective import LinearObjective
from softreg._xp import ArrayAPIRows
from softreg.normalizers import Softmax
from softreg.normalizers._registry import NORMALIZERS

xps = pytest.importorskip("array_api_strict")


def _namespace(name):
    if name == "torch":
        torch = pytest.importorskip(
            "torch", reason="torch is not installed: pip install torch==2.13.0"
        )
        # These problems are tiny: torch's intra-op threads only add
        # synchronisation (several times slower on a loaded 2-core machine).
        torch.set_num_threads(1)
        return torch
    return xps


@pytest.fixture(params=["array_api_strict", "torch"])
def xp(request):
    return _namespace(request.param)


def _np(a):
    """A host copy of a device array (a test helper: what the tests compare)."""
    with sklearn.config_context(array_api_dispatch=True):
        xp, _, _ = get_namespace_and_device(a)
    return _convert_to_numpy(a, xp)


def dispatch():
    return sklearn.config_context(array_api_dispatch=True)


# Standardised features: a well-conditioned optimum, so that two fits that
# both meet tol=1e-10 agree to 1e-6 whatever their rounding.
def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _synthetic():
    X, y = make_classification(
        300, 8, n_informative=5, n_classes=4, n_clusters_per_class=1, random_state=0
    )
    return StandardScaler().fit_transform(X), y


DATASETS = {"iris": _iris, "synthetic": _synthetic}
TOL = {"float64": 1e-10, "float32": 1e-6}


def _distance_bound(tol, X, n_classes, C=1.0):
    """How far from the optimum a fit that meets ``tol`` can be (max entry).

    The objective is ``l2 = 1 / (C S)``-strongly convex along the
    coefficients (the data term adds curvature, the intercepts have only
    that): a point whose gradient entries are at most ``tol`` is within
    ``||g||_2 / l2 <= sqrt(P) tol C S`` of the optimum, ``P`` parameters.
    """
    n_params = (X.shape[1] + 1) * n_classes
    return np.sqrt(n_params) * tol * C * X.shape[0]


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
@pytest.mark.parametrize("data", sorted(DATASETS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_matches_numpy_fit(xp, name, data, dtype):
    """Every normalizer: the device fit is the NumPy fit.

    Both meet ``tol``, so each is within :func:`_distance_bound` of the
    optimum and they are within twice that of each other; the float32 fits
    are also within it of the float64 optimum. Probabilities move by at
    most half the change of the scores, ``|dW| (1 + |x|_1)``.
    """
    X, y = DATASETS[data]()
    X = X.astype(dtype)
    tol = TOL[dtype]
    bound = _distance_bound(tol, X, np.unique(y).size)
    atol = 2 * bound
    params = dict(normalizer=name, tol=tol, max_iter=2000, random_state=0)
    with warnings.catch_warnings():
        # float32 fits may stop on precision loss before tol=1e-6.
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SoftmaxRegression(**params).fit(X, y)
        with dispatch():
            est = SoftmaxRegression(**params).fit(xp.asarray(X), xp.asarray(y))
            proba = est.predict_proba(xp.asarray(X))
    coef = _np(est.coef_)
    assert coef.dtype == np.dtype(dtype)
    assert _np(est.intercept_).dtype == np.dtype(dtype)
    assert_allclose(coef, ref.coef_, atol=atol)
    assert_allclose(_np(est.intercept_), ref.intercept_, atol=atol)
    lipschitz = 0.5 * (1 + np.abs(X).sum(axis=1).max())
    assert_allclose(_np(proba), ref.predict_proba(X), atol=atol * lipschitz)
    if dtype == "float32":
        best = SoftmaxRegression(**{**params, "tol": 1e-10})
        best = best.fit(X.astype(np.float64), y).coef_
        assert np.abs(ref.coef_ - best).max() <= bound
        assert np.abs(coef - best).max() <= bound


@pytest.mark.parametrize("solver", ["newton-cg", "trust-ncg"])
@pytest.mark.parametrize("name", ["softmax", "taylor", "sparsemax", "standard"])
def test_newton_solvers_on_device(xp, solver, name):
    """Hessian-vector products run on the device too."""
    X, y = _synthetic()
    params = dict(normalizer=name, solver=solver, tol=1e-10, random_state=0)
    ref = SoftmaxRegression(**params).fit(X, y)
    with dispatch():
        est = SoftmaxRegression(**params).fit(xp.asarray(X), xp.asarray(y))
    assert_allclose(_np(est.coef_), ref.coef_, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
# float32 scores on a device cannot resolve tol=1e-10 (softreg switches to
# float64 scores only for NumPy data): the fit warns with the value reached,
# which the comparison below allows for.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_softmax_matches_logistic_regression_on_device(xp, dtype):
    """The softmax fit equals LogisticRegression's array-API fit."""
    X, y = _synthetic()
    X = X.astype(dtype)
    Xd, yd = xp.asarray(X), xp.asarray(y)
    with dispatch():
        lr = LogisticRegression(C=0.5, tol=1e-10, max_iter=1000).fit(Xd, yd)
        est = SoftmaxRegression(C=0.5, tol=1e-10, max_iter=1000).fit(Xd, yd)
        proba, proba_lr = _np(est.predict_proba(Xd)), _np(lr.predict_proba(Xd))
    # softreg meets tol=1e-10 (float64), or TOL["float32"] above the rounding
    # floor of float32 scores; LogisticRegression's lbfgs stops on its ftol
    # test wherever that leaves its gradient, which is measured here.
    n_classes = np.unique(y).size
    objective = LinearObjective(
        X.astype(np.float64), y, n_classes, Softmax(), np.ones(y.size), 0.5, True
    )
    w_lr = np.vstack([_np(lr.coef_).T, _np(lr.intercept_)]).ravel()
    lr_gradient = np.abs(objective.loss_gradient(w_lr)[1]).max()
    atol = _distance_bound(TOL[dtype] + lr_gradient, X, n_classes, C=0.5)
    assert_allclose(proba, proba_lr, atol=atol)
    assert_allclose(_np(est.coef_), _np(lr.coef_), atol=atol)
    assert_allclose(_np(est.intercept_), _np(lr.intercept_), atol=atol)


@pytest.mark.parametrize(
    "params",
    [
        dict(l1_ratio=0.5, C=0.3),
        dict(bounds=(0, np.inf)),
        dict(class_weight="balanced"),
        dict(label_smoothing=0.1),
        dict(temperature=2.0),
        dict(temperature="auto", cv=3, random_state=0),
        dict(calibration="vector", cv=3, random_state=0),
        dict(calibration="ensemble", cv=3, random_state=0),
        dict(fit_intercept=False),
    ],
    ids=lambda p: ",".join(p),
)
def test_options_match_numpy_fit(xp, params):
    """What the host does (penalties, weights, temperature) is the NumPy fit's."""
    X, y = _synthetic()
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, size=y.size)
    ref = SoftmaxRegression(tol=1e-10, max_iter=1000, **params).fit(
        X, y, sample_weight=sw
    )
    with dispatch():
        est = SoftmaxRegression(tol=1e-10, max_iter=1000, **params).fit(
            xp.asarray(X), xp.asarray(y), sample_weight=xp.asarray(sw)
        )
    assert_allclose(_np(est.coef_), ref.coef_, atol=1e-6)
    assert est.temperature_ == pytest.approx(ref.temperature_, rel=1e-6)
    assert est.n_passes_ == pytest.approx(ref.n_passes_, abs=10)
    assert type(est.coef_) is type(xp.asarray(X))
    if "calibration" in params:
        # The map fitted to the device folds' out-of-fold scores.
        assert_allclose(_np(est.calibration_scale_), ref.calibration_scale_, rtol=1e-5)
        assert_allclose(_np(est.calibration_bias_), ref.calibration_bias_, atol=1e-6)


def test_soft_targets_on_device(xp):
    X, y = _synthetic()
    Y = SoftmaxRegression().fit(X, y).predict_proba(X)
    ref = SoftmaxRegression(tol=1e-10).fit(X, Y, classes=[10, 11, 12, 13])
    with dispatch():
        est = SoftmaxRegression(tol=1e-10).fit(
            xp.asarray(X), xp.asarray(Y), classes=[10, 11, 12, 13]
        )
        labels = est.predict(xp.asarray(X))
    assert_allclose(_np(est.coef_), ref.coef_, atol=1e-6)
    assert_allclose(_np(labels), ref.predict(X))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_outputs_in_input_namespace(xp, dtype):
    X, y = _synthetic()
    X = X.astype(dtype)
    Xd = xp.asarray(X)
    with dispatch():
        est = SoftmaxRegression().fit(Xd, xp.asarray(y))
        outputs = {
            m: getattr(est, m)(Xd)
            for m in ("predict_proba", "predict_log_proba", "decision_function")
        }
        labels = est.predict(Xd)
        score = est.score(Xd, xp.asarray(y))
        expected = get_namespace_and_device(Xd)[0].__name__
        ns = {get_namespace_and_device(a)[0].__name__ for a in outputs.values()}
        label_ns = get_namespace_and_device(labels)[0].__name__
    # The reference: the same model's coefficients, predicting on the host.
    ref = move_estimator_to(est, np, "cpu")
    assert ns == {expected}
    assert label_ns == expected
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for method, out in outputs.items():
        out = _np(out)
        assert out.dtype == np.dtype(dtype)
        assert_allclose(out, getattr(ref, method)(X), rtol=rtol, atol=rtol)
    assert_allclose(_np(labels), ref.predict(X))
    assert score == pytest.approx(ref.score(X, y))


def test_binary_and_string_labels(xp):
    X, y = _synthetic()
    y = np.where(y > 1, "yes", "no")
    ref = SoftmaxRegression().fit(X, y)
    with dispatch():
        est = SoftmaxRegression().fit(xp.asarray(X), y)
        labels = est.predict(xp.asarray(X))
        decision = est.decision_function(xp.asarray(X))
    # String labels stay NumPy, as in scikit-learn's predict.
    assert isinstance(labels, np.ndarray)
    assert_array = np.testing.assert_array_equal
    assert_array(labels, ref.predict(X))
    assert tuple(decision.shape) == (X.shape[0],)
    assert_allclose(_np(decision), ref.decision_function(X), atol=1e-6)


def test_only_parameters_cross_per_pass(xp):
    """Per pass the parameters go in and the loss and gradient come out."""
    X, y = _synthetic()
    n, p = X.shape
    K = 4
    sw = np.ones(n)
    Xd = xp.asarray(X)
    with dispatch():
        xpc, _, device = get_namespace_and_device(Xd)
    rows = ArrayAPIRows(Xd, xp.asarray(y), xp.asarray(sw), K, xpc, device)
    obj = LinearObjective.over(rows, K, Softmax(), C=1.0, fit_intercept=True)
    ref = LinearObjective(X, y, K, Softmax(), sw, C=1.0, fit_intercept=True)
    w = np.random.default_rng(0).normal(size=obj.n_params)
    loss, grad = obj.loss_gradient(w)
    loss_ref, grad_ref = ref.loss_gradient(w)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-14)
    # W^T and b in X's dtype; loss, X^T R and the column sums in float64.
    assert rows.bytes_in == (p + 1) * K * 8
    assert rows.bytes_out == (1 + (p + 1) * K) * 8
    assert_allclose(obj.hessp(w, grad), ref.hessp(w, grad), rtol=1e-10, atol=1e-14)


def test_mixed_namespaces_follow_x(xp):
    """y and sample_weight of other namespaces follow X, as in scikit-learn."""
    torch = pytest.importorskip("torch")
    X, y = _synthetic()
    sw = np.linspace(0.5, 1.5, y.size)
    ref = SoftmaxRegression().fit(X, y, sample_weight=sw)
    with dispatch():
        est = SoftmaxRegression().fit(
            xp.asarray(X), torch.asarray(y), sample_weight=xps.asarray(sw)
        )
        expected = get_namespace_and_device(xp.asarray(X))[0]
        assert get_namespace_and_device(est.coef_)[0] is expected
    assert_allclose(_np(est.coef_), ref.coef_, atol=1e-6)


def test_predict_on_other_device_or_namespace_raises():
    X, y = _synthetic()
    other = xps.Device("device1")
    with dispatch():
        est = SoftmaxRegression().fit(xps.asarray(X), xps.asarray(y))
        with pytest.raises(ValueError, match="Devices used during fit"):
            est.predict_proba(xps.asarray(X, device=other))
        with pytest.raises(ValueError, match="must use the same namespace"):
            est.predict(X)
    # Without dispatch a device model says how to convert it.
    with pytest.raises(ValueError, match="move_estimator_to"):
        est.predict_proba(X)
    with pytest.raises(ValueError, match="NumPy models"):
        est.inference(X, y)


def test_fit_on_other_device_stays_there():
    X, y = _synthetic()
    device = xps.Device("device1")
    with dispatch():
        est = SoftmaxRegression().fit(
            xps.asarray(X, device=device),
            xps.asarray(y),
            sample_weight=xps.asarray(np.ones(y.size)),
        )
        assert est.coef_.device == device
        assert est.predict_proba(xps.asarray(X, device=device)).device == device


def test_convert_fitted_model_to_numpy(xp):
    """scikit-learn's move_estimator_to gives a NumPy model, same predictions."""
    X, y = _synthetic()
    with dispatch():
        est = SoftmaxRegression().fit(xp.asarray(X), xp.asarray(y))
        proba = _np(est.predict_proba(xp.asarray(X)))
    host = move_estimator_to(est, np, "cpu")
    assert isinstance(host.coef_, np.ndarray)
    assert_allclose(host.predict_proba(X), proba, rtol=1e-12)
    # A warm start from a device model begins at its coefficients.
    with dispatch():
        est.set_params(warm_start=True, max_iter=0)
        est.fit(xp.asarray(X), xp.asarray(y))
    assert_allclose(_np(est.coef_), host.coef_, rtol=1e-12)


def test_float16_becomes_float64_on_device():
    torch = pytest.importorskip("torch")
    X, y = _synthetic()
    X16 = X.astype(np.float16)
    ref = SoftmaxRegression().fit(X16.astype(np.float64), y)
    with dispatch():
        est = SoftmaxRegression().fit(torch.asarray(X16), torch.asarray(y))
    assert est.coef_.dtype == torch.float64
    assert_allclose(_np(est.coef_), ref.coef_, atol=1e-6)


def test_sparse_input_with_dispatch_is_numpy():
    """scikit-learn's behaviour: sparse input is NumPy/scipy, dispatch or not."""
    X, y = _synthetic()
    Xs = sp.csr_matrix(np.where(np.abs(X) > 2, X, 0))
    ref = SoftmaxRegression().fit(Xs, y)
    with dispatch():
        est = SoftmaxRegression().fit(Xs, xps.asarray(y))
        proba = est.predict_proba(Xs)
    assert isinstance(est.coef_, np.ndarray)
    assert isinstance(proba, np.ndarray)
    assert_allclose(est.coef_, ref.coef_, rtol=1e-12)


def test_bad_values_on_device_are_refused(xp):
    X, y = _synthetic()
    X[3, 2] = np.nan
    with dispatch(), pytest.raises(ValueError, match="NaN"):
        SoftmaxRegression().fit(xp.asarray(X), xp.asarray(y))
    with dispatch(), pytest.raises(ValueError, match="Negative"):
        SoftmaxRegression().fit(
            xp.asarray(np.nan_to_num(X)), y, sample_weight=-np.ones(y.size)
        )


def test_import_does_not_import_array_libraries():
    code = (
        "import sys, softreg; "
        "print(sorted(m for m in ('torch', 'array_api_strict', 'cupy') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
