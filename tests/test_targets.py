"""Soft targets and label smoothing against independent references.

The main reference is the replicated data set: row ``i`` repeated once per
class ``k`` with label ``k`` and weight ``sample_weight[i] * Y[i, k]``, whose
label fit (by LogisticRegression for softmax) must be the soft-target fit.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from softreg import SoftmaxRegression, neg_soft_log_loss_scorer, soft_log_loss
from softreg._blocks import BlockRunner
from softreg._objective import LinearObjective
from softreg._temperature import fit_temperature
from softreg.normalizers import (
    Entmax15,
    Softmax,
    Sparsemax,
    Spherical,
    Standard,
    Taylor,
)

TIGHT = {"tol": 1e-10, "max_iter": 10_000}
# The reference fits reach the optimum to rounding: LogisticRegression's lbfgs
# stops on its ftol test with the gradient still at ~1e-8 (digits: 2e-8),
# where softreg goes on to tol. The two optima then agree to about
# tol / (smallest curvature), far inside the tests' atol.
LR_EXACT = {**TIGHT, "solver": "newton-cholesky"}
K = 3


def _soft_problem(n=150, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=K,
        random_state=seed,
    )
    rng = np.random.RandomState(seed)
    # Targets near the labels but blurred, as a teacher's probabilities are.
    Y = rng.dirichlet(np.ones(K), size=n) * 0.5
    Y[np.arange(n), y] += 0.5
    sw = rng.randint(1, 4, size=n).astype(float)
    return X, y, Y, sw


def _replicate(X, Y, sw=None):
    n, k = Y.shape
    sw = np.ones(n) if sw is None else sw
    return np.repeat(X, k, axis=0), np.tile(np.arange(k), n), (sw[:, None] * Y).ravel()


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 1.0, 1: 2.5, 2: 0.5}])
def test_soft_fit_equals_logistic_regression_on_replicated_data(class_weight):
    X, _, Y, sw = _soft_problem()
    Xr, yr, wr = _replicate(X, Y, sw)
    soft = SoftmaxRegression(class_weight=class_weight, **TIGHT).fit(
        X, Y, sample_weight=sw
    )
    ref = LogisticRegression(class_weight=class_weight, **LR_EXACT).fit(
        Xr, yr, sample_weight=wr
    )
    assert_allclose(soft.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(soft.intercept_, ref.intercept_, rtol=1e-5, atol=1e-6)
    assert_allclose(soft.predict_proba(X), ref.predict_proba(X), atol=1e-7)


@pytest.mark.parametrize(
    ("normalizer", "params"),
    [
        ("sparsemax", {"C": 0.1}),
        ("entmax15", {}),
        ("standard", {"random_state": 0}),
        ("taylor", {"random_state": 0}),
    ],
)
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "trust-ncg"])
def test_every_normalizer_and_solver_fit_soft_targets_as_replicated_labels(
    normalizer, params, solver
):
    X, _, Y, _ = _soft_problem(n=80, seed=1)
    Xr, yr, wr = _replicate(X, Y)
    kw = {"normalizer": normalizer, "solver": solver, "tol": 1e-9, **params}
    kw["max_iter"] = 5000
    soft = SoftmaxRegression(**kw).fit(X, Y)
    ref = SoftmaxRegression(**kw).fit(Xr, yr, sample_weight=wr)
    assert_allclose(soft.predict_proba(X), ref.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("class_weight", [None, {0: 1.0, 1: 2.5, 2: 0.5}])
@pytest.mark.parametrize("sparse", [False, True])
def test_one_hot_rows_give_exactly_the_label_fit(class_weight, sparse):
    X, y, _, sw = _soft_problem()
    X = sp.csr_matrix(X) if sparse else X
    Y = np.eye(K)[y]
    kw = {"class_weight": class_weight, "C": 0.5}
    soft = SoftmaxRegression(**kw).fit(X, Y, sample_weight=sw)
    hard = SoftmaxRegression(**kw).fit(X, y, sample_weight=sw)
    assert_array_equal(soft.coef_, hard.coef_)
    assert_array_equal(soft.intercept_, hard.intercept_)
    assert_array_equal(soft.classes_, hard.classes_)


def test_one_hot_rows_balanced_and_auto_temperature_match_the_label_fit():
    X, y, _, sw = _soft_problem()
    Y = np.eye(K)[y]
    kw = {"class_weight": "balanced", "temperature": "auto", "random_state": 0}
    soft = SoftmaxRegression(**kw).fit(X, Y, sample_weight=sw)
    hard = SoftmaxRegression(**kw).fit(X, y, sample_weight=sw)
    assert_allclose(soft.coef_, hard.coef_, rtol=1e-10)
    assert_allclose(soft.temperature_, hard.temperature_, rtol=1e-10)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothing_is_the_soft_fit_of_the_smoothed_matrix(eps):
    X, y, _, sw = _soft_problem()
    Y = (1 - eps) * np.eye(K)[y] + eps / K
    smoothed = SoftmaxRegression(label_smoothing=eps, **TIGHT).fit(
        X, y, sample_weight=sw
    )
    soft = SoftmaxRegression(**TIGHT).fit(X, Y, sample_weight=sw)
    assert_allclose(smoothed.coef_, soft.coef_, rtol=1e-10, atol=1e-12)
    # And, independently, LogisticRegression on the replicated smoothed data.
    Xr, yr, wr = _replicate(X, Y, sw)
    ref = LogisticRegression(**LR_EXACT).fit(Xr, yr, sample_weight=wr)
    assert_allclose(smoothed.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    # Smoothing pulls the probabilities away from 0 and 1.
    plain = SoftmaxRegression(**TIGHT).fit(X, y, sample_weight=sw)
    assert smoothed.predict_proba(X).max() < plain.predict_proba(X).max()


def test_soft_gradient_and_hessp_match_finite_differences():
    X, _, Y, sw = _soft_problem(n=60, seed=3)
    for normalizer in [Softmax(), Sparsemax(), Entmax15(), Taylor(), Standard()]:
        obj = LinearObjective(
            X,
            Y,
            K,
            normalizer,
            sw,
            C=0.7,
            fit_intercept=True,
            temperature=1.3,
            runner=BlockRunner(2),
            block_rows=17,
        )
        rng = np.random.default_rng(0)
        w = rng.normal(scale=0.3, size=obj.n_params)
        if isinstance(normalizer, Standard):
            w = np.abs(w)  # its scores must stay positive
        _, grad = obj.loss_gradient(w)
        h = 1e-6
        fd = np.array(
            [
                (obj.loss_gradient(w + h * e)[0] - obj.loss_gradient(w - h * e)[0])
                / (2 * h)
                for e in np.eye(w.size)
            ]
        )
        assert_allclose(grad, fd, rtol=1e-5, atol=1e-8, err_msg=repr(normalizer))
        if isinstance(normalizer, Sparsemax | Entmax15):
            continue  # only once differentiable
        v = rng.normal(size=w.size)
        with obj.running():
            hv = obj.hessp(w, v)
        fd_h = (obj.loss_gradient(w + h * v)[1] - obj.loss_gradient(w - h * v)[1]) / (
            2 * h
        )
        assert_allclose(hv, fd_h, rtol=1e-5, atol=1e-7, err_msg=repr(normalizer))


def test_soft_loss_is_the_plain_cross_entropy():
    X, _, Y, sw = _soft_problem(n=50, seed=4)
    obj = LinearObjective(X, Y, K, Softmax(), sw, C=np.inf, fit_intercept=True)
    w = np.random.default_rng(1).normal(size=obj.n_params)
    Wt, b = w[: 5 * K].reshape(5, K), w[5 * K :]
    Z = X @ Wt + b
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    expected = -(sw @ (Y * logp).sum(axis=1)) / sw.sum()
    assert_allclose(obj.loss_gradient(w)[0], expected, rtol=1e-12)


def test_classes_names_the_columns_and_defaults_to_arange():
    X, _, Y, _ = _soft_problem()
    clf = SoftmaxRegression().fit(X, Y)
    assert_array_equal(clf.classes_, np.arange(K))
    named = SoftmaxRegression().fit(X, Y, classes=["cat", "dog", "emu"])
    assert_array_equal(named.classes_, ["cat", "dog", "emu"])
    assert_array_equal(
        named.predict(X), np.array(["cat", "dog", "emu"])[clf.predict(X)]
    )


def test_column_of_labels_keeps_sklearn_behaviour():
    X, y, _, _ = _soft_problem()
    with pytest.warns(DataConversionWarning):
        clf = SoftmaxRegression().fit(X, y[:, None])
    assert_array_equal(clf.coef_, SoftmaxRegression().fit(X, y).coef_)


@pytest.mark.parametrize(
    ("Y", "match"),
    [
        (np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]] * 4), "sum is not 1"),
        (np.array([[1.2, -0.2, 0.0], [0.0, 1.0, 0.0]] * 6), "negative"),
        (np.array([[0.5, 0.5, np.nan], [0.0, 1.0, 0.0]] * 6), "NaN"),
    ],
)
def test_bad_soft_targets_say_what_soft_targets_are(Y, match):
    X = np.random.RandomState(0).normal(size=(Y.shape[0], 2))
    with pytest.raises(ValueError, match=match) as info:
        SoftmaxRegression().fit(X, Y)
    if match != "NaN":
        assert "Soft targets must be" in str(info.value)


def test_bad_classes_and_shapes():
    X, y, Y, _ = _soft_problem()
    with pytest.raises(ValueError, match="3 distinct labels"):
        SoftmaxRegression().fit(X, Y, classes=[0, 1])
    with pytest.raises(ValueError, match="3 distinct labels"):
        SoftmaxRegression().fit(X, Y, classes=[0, 1, 1])
    with pytest.raises(ValueError, match="classes names the columns"):
        SoftmaxRegression().fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="samples"):
        SoftmaxRegression().fit(X[:-1], Y)
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxRegression(label_smoothing=1.0).fit(X, y)


def test_rows_are_rescaled_to_sum_to_one():
    X, _, Y, _ = _soft_problem()
    a = SoftmaxRegression().fit(X, Y * (1 + 5e-5))
    b = SoftmaxRegression().fit(X, Y)
    assert_allclose(a.coef_, b.coef_, rtol=1e-12)


def test_float32_soft_targets_stay_float32():
    X, _, Y, _ = _soft_problem()
    clf = SoftmaxRegression().fit(X.astype(np.float32), Y)
    assert clf.coef_.dtype == np.float32
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    ref = SoftmaxRegression().fit(X, Y)
    assert_allclose(clf.coef_, ref.coef_, rtol=1e-3, atol=1e-4)


def test_score_is_accuracy_on_the_replicated_data():
    X, y, Y, sw = _soft_problem()
    clf = SoftmaxRegression().fit(X, Y)
    Xr, yr, wr = _replicate(X, Y, sw)
    expected = accuracy_score(yr, clf.predict(Xr), sample_weight=wr)
    assert_allclose(clf.score(X, Y, sample_weight=sw), expected, rtol=1e-12)
    assert clf.score(X, np.eye(K)[y]) == clf.score(X, y)


def test_soft_log_loss_and_scorer():
    X, y, Y, sw = _soft_problem()
    clf = SoftmaxRegression().fit(X, y)
    P = clf.predict_proba(X)
    assert_allclose(soft_log_loss(np.eye(K)[y], P), log_loss(y, P), rtol=1e-12)
    assert_allclose(
        soft_log_loss(np.eye(K)[y], P, sample_weight=sw),
        log_loss(y, P, sample_weight=sw),
        rtol=1e-12,
    )
    # Binary: scikit-learn's scorers pass the second column only.
    Y2 = np.column_stack([Y[:, 0], 1 - Y[:, 0]])
    assert_allclose(soft_log_loss(Y2, Y2[:, 1]), soft_log_loss(Y2, Y2), rtol=1e-12)
    clf_soft = SoftmaxRegression().fit(X, Y)
    assert_allclose(
        neg_soft_log_loss_scorer(clf_soft, X, Y),
        -soft_log_loss(Y, clf_soft.predict_proba(X)),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="shape"):
        soft_log_loss(Y[:, :2], P)


def test_cross_validation_and_grid_search_with_soft_targets():
    X, _, Y, _ = _soft_problem()
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(
        SoftmaxRegression(), X, Y, cv=cv, scoring=neg_soft_log_loss_scorer
    )
    manual = [
        -soft_log_loss(
            Y[te], SoftmaxRegression().fit(X[tr], Y[tr]).predict_proba(X[te])
        )
        for tr, te in cv.split(X)
    ]
    assert_allclose(scores, manual, rtol=1e-12)
    search = GridSearchCV(
        SoftmaxRegression(),
        {"C": [0.01, 1.0], "label_smoothing": [0.0, 0.2]},
        cv=cv,
        scoring=neg_soft_log_loss_scorer,
    ).fit(X, Y)
    assert search.best_estimator_.classes_.size == K


def test_fit_temperature_on_soft_targets_equals_replicated_labels():
    X, _, Y, sw = _soft_problem()
    scores = 2.0 * (X @ np.random.RandomState(0).normal(size=(5, K)))
    Xr, yr, wr = _replicate(scores, Y, sw)
    for normalizer in [Softmax(), Sparsemax()]:
        soft_t = fit_temperature(normalizer, scores, Y, sw)
        rep_t = fit_temperature(normalizer, Xr, yr, wr)
        assert_allclose(soft_t, rep_t, rtol=1e-7)


def test_auto_temperature_with_soft_targets():
    X, _, Y, _ = _soft_problem()
    clf = SoftmaxRegression(temperature="auto", random_state=0).fit(X, Y)
    assert 1e-3 < clf.temperature_ < 1e3
    assert clf.predict_proba(X).shape == (X.shape[0], K)


def test_spherical_fits_soft_targets():
    X, _, Y, _ = _soft_problem(n=60)
    clf = SoftmaxRegression(normalizer=Spherical(), random_state=0).fit(X, Y)
    assert np.isfinite(clf.coef_).all()


@pytest.mark.parametrize(
    "params",
    [
        {"class_weight": {0: 1.0, 1: 3.0, 2: 0.5}, "C": 0.3},
        {"label_smoothing": 0.2, "temperature": 1.7},
        {"normalizer": "entmax15", "class_weight": "balanced"},
    ],
)
def test_gradient_of_the_estimators_soft_objective_matches_finite_differences(
    monkeypatch, params
):
    # The objective the estimator builds from soft targets, weights, class
    # weights and smoothing, captured as the solver receives it.
    import softreg._estimator as estimator_module

    captured = []

    class Spy(LinearObjective):
        def _setup(self, *args, **kwargs):
            super()._setup(*args, **kwargs)
            captured.append(self)

    monkeypatch.setattr(estimator_module, "LinearObjective", Spy)
    X, _, Y, sw = _soft_problem(n=60, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 3 steps suffice
        SoftmaxRegression(max_iter=3, **params).fit(X, Y, sample_weight=sw)
    obj = captured[-1]
    assert obj.rows.chunks[0].y.shape == Y.shape
    w = np.random.default_rng(0).normal(scale=0.3, size=obj.n_params)
    _, grad = obj.loss_gradient(w)
    h = 1e-6
    fd = np.array(
        [
            (obj.loss_gradient(w + h * e)[0] - obj.loss_gradient(w - h * e)[0])
            / (2 * h)
            for e in np.eye(w.size)
        ]
    )
    assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
