"""Elastic net (l1_ratio) and bounds against scikit-learn's saga and the KKT
conditions, with the objective evaluated independently of softreg."""

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import softreg._estimator
from softreg import SoftmaxRegression
from softreg._penalty import ElasticNet, check_bounds
from softreg.normalizers._registry import NORMALIZERS

SAGA_MAX_ITER = 20_000


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _sparse_problem():
    # An odd number of classes: with l1_ratio=1 the optimum is then unique
    # (the best shift of a column is its median over classes, which for an
    # even number of classes can be a whole interval).
    rng = np.random.RandomState(0)
    X = sp.random(300, 60, density=0.1, format="csr", random_state=rng)
    W = rng.normal(size=(60, 5)) * (rng.uniform(size=(60, 1)) < 0.3) * 4
    y = np.asarray(X @ W + rng.gumbel(size=(300, 5))).argmax(axis=1)
    return X, y


DATASETS = {
    "iris": lambda: _standardised(load_iris),
    "wine": lambda: _standardised(load_wine),
    "digits": lambda: _standardised(load_digits),
    "sparse": _sparse_problem,
}


def objective(coef, intercept, X, y, C, l1_ratio, sample_weight=None):
    """scikit-learn 1.9's multinomial elastic-net objective, from scratch."""
    sw = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    S = sw.sum()
    Z = np.asarray(X @ coef.T) + intercept
    data = sw @ (logsumexp(Z, axis=1) - Z[np.arange(X.shape[0]), y]) / S
    penalty = (1 - l1_ratio) / 2 * np.sum(coef**2) + l1_ratio * np.abs(coef).sum()
    return data + penalty / (C * S)


def smooth_gradient(coef, intercept, X, y, C, l1_ratio):
    """Gradient of the data term plus the L2 part, w.r.t. coef and intercept."""
    Z = np.asarray(X @ coef.T) + intercept
    P = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
    P[np.arange(X.shape[0]), y] -= 1
    n = X.shape[0]
    gW = np.asarray(X.T @ P).T / n + (1 - l1_ratio) * coef / (C * n)
    return gW, P.sum(axis=0) / n


@functools.cache
def saga(name, C, l1_ratio):
    """LogisticRegression(solver="saga") at tol=1e-10, and whether it converged."""
    X, y = DATASETS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LogisticRegression(
            solver="saga", C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=SAGA_MAX_ITER
        ).fit(X, y)
    return ref, int(ref.n_iter_.max()) < SAGA_MAX_ITER


# C from strong to weak penalty on each dataset, every fit with some zeros.
PARITY_CS = {"iris": (0.1, 1.0), "wine": (0.1, 1.0), "sparse": (0.3, 3.0)}
PARITY = [
    pytest.param(name, C, r, id=f"{name}-C{C}-r{r}")
    for name, Cs in PARITY_CS.items()
    for C in Cs
    for r in (0.5, 1.0)
] + [
    # saga needs 10-80 s per fit on digits (10 classes, 64 features).
    pytest.param("digits", C, r, id=f"digits-C{C}-r{r}", marks=pytest.mark.slow)
    for C in (0.05, 0.1)
    for r in (0.5, 1.0)
]


@pytest.mark.parametrize(("name", "C", "l1_ratio"), PARITY)
def test_elastic_net_matches_saga(name, C, l1_ratio):
    X, y = DATASETS[name]()
    ref, converged = saga(name, C, l1_ratio)
    clf = SoftmaxRegression(C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=5000)
    clf.fit(X, y)
    ours = objective(clf.coef_, clf.intercept_, X, y, C, l1_ratio)
    theirs = objective(ref.coef_, ref.intercept_, X, y, C, l1_ratio)
    assert ours <= theirs + 1e-8 * abs(theirs)
    assert_allclose(clf.coef_, ref.coef_, atol=1e-4)
    assert_allclose(clf.intercept_, ref.intercept_, atol=1e-4)
    assert converged
    assert_array_equal(clf.coef_ == 0, ref.coef_ == 0)
    assert (clf.coef_ == 0).any()


@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_binary_maps_to_logistic_regression(l1_ratio):
    # 2-class softmax: w = w_1 - w_0, ||W||_F^2 = ||w||^2 / 2 at the
    # antisymmetric optimum and ||W||_1 >= ||w||_1 (equal there), so (C, r)
    # is LogisticRegression's (2C / (1 + r), 2r / (1 + r)).
    X, y = _standardised(load_wine)
    X, y = X[y < 2], y[y < 2]
    C = 0.1
    clf = SoftmaxRegression(C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=5000)
    clf.fit(X, y)
    ref = LogisticRegression(
        solver="saga",
        C=2 * C / (1 + l1_ratio),
        l1_ratio=2 * l1_ratio / (1 + l1_ratio),
        tol=1e-10,
        max_iter=SAGA_MAX_ITER,
    ).fit(X, y)
    assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    assert_allclose(clf.coef_[1] - clf.coef_[0], ref.coef_[0], atol=1e-5)


def test_l1_ratio_zero_is_the_l2_fit():
    X, y = _standardised(load_wine)
    a = SoftmaxRegression(C=0.3, tol=1e-10, max_iter=1000).fit(X, y)
    # newton-cholesky reaches the optimum to rounding; lbfgs stops on ftol.
    ref = LogisticRegression(C=0.3, tol=1e-10, solver="newton-cholesky").fit(X, y)
    assert_allclose(a.coef_, ref.coef_, atol=1e-7)


def test_elastic_net_with_sample_weight_and_float32():
    X, y = _standardised(load_iris)
    sw = np.random.RandomState(0).randint(0, 4, size=y.size).astype(float)
    clf = SoftmaxRegression(C=0.2, l1_ratio=0.7, tol=1e-10, max_iter=2000)
    clf.fit(X, y, sample_weight=sw)
    rep = SoftmaxRegression(C=0.2, l1_ratio=0.7, tol=1e-10, max_iter=2000)
    rep.fit(np.repeat(X, sw.astype(int), axis=0), np.repeat(y, sw.astype(int)))
    assert_allclose(clf.coef_, rep.coef_, atol=1e-7)
    f32 = SoftmaxRegression(C=0.2, l1_ratio=0.7, tol=1e-4).fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == np.float32
    assert (f32.coef_ == 0).any()


@pytest.mark.parametrize("normalizer", sorted(NORMALIZERS))
def test_every_normalizer_fits_elastic_net(normalizer):
    # Optimality without a reference: no feasible step along random sparse
    # directions (each keeping most coefficients fixed) lowers the objective.
    X, y = _standardised(load_iris)
    clf = SoftmaxRegression(
        normalizer=normalizer, C=0.1, l1_ratio=0.5, tol=1e-8, max_iter=3000,
        random_state=0,
    )  # fmt: skip
    clf.fit(X, y)
    assert (clf.coef_ == 0).any()
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)

    def total(coef, intercept):
        obj = softreg._objective.LinearObjective(
            X, y, 3, clf.normalizer_, np.ones(y.size), C=0.1, fit_intercept=True,
            penalty=ElasticNet(0.5),
        )  # fmt: skip
        w = np.vstack([coef.T, intercept[None]]).ravel()
        # loss_gradient has the smooth part (data and L2); add the L1 part.
        return obj.loss_gradient(w)[0] + obj.penalty.l1 * np.abs(coef).sum()

    base = total(clf.coef_, clf.intercept_)
    rng = np.random.default_rng(0)
    for _ in range(20):
        D = rng.normal(size=clf.coef_.shape) * (rng.uniform(size=clf.coef_.shape) < 0.3)
        d = rng.normal(size=3)
        assert total(clf.coef_ + 1e-4 * D, clf.intercept_ + 1e-4 * d) >= base - 1e-12


def test_elastic_net_does_not_centre_and_returns_a_penalty_minimal_shift():
    # Lasso, shift-invariant softmax: W + 1 a^T has the same data loss, so the
    # optimum's columns have 0 as a median over classes (else a shift would
    # lower ||W||_1): with 3 classes, one class's entry is 0 in each column
    # or the column changes sign.
    X, y = _standardised(load_wine)
    clf = SoftmaxRegression(C=1.0, l1_ratio=1.0, tol=1e-10, max_iter=5000).fit(X, y)
    assert not np.allclose(clf.coef_.sum(axis=0), 0)
    for a in np.linspace(-0.5, 0.5, 11):
        assert np.abs(clf.coef_ + a).sum() >= np.abs(clf.coef_).sum() - 1e-12
    assert_allclose(clf.intercept_.sum(), 0, atol=1e-12)


@pytest.mark.parametrize("solver", ["newton-cg", "trust-ncg"])
@pytest.mark.parametrize(
    "params", [{"l1_ratio": 0.5}, {"bounds": (0, np.inf)}], ids=["l1", "bounds"]
)
def test_newton_solvers_refuse_l1_and_bounds_before_work(monkeypatch, solver, params):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the parameters were checked")

    monkeypatch.setattr(softreg._estimator, "LinearObjective", no_work)
    X, y = _standardised(load_iris)
    clf = SoftmaxRegression(solver=solver, temperature="auto", **params)
    with pytest.raises(ValueError, match=rf"solver='{solver}'.*solver='lbfgs'"):
        clf.fit(X, y)


# --- bounds ------------------------------------------------------------------


def _kkt_violation(clf, X, y, C, l1_ratio, lower, upper):
    """Distance of 0 from the bounded problem's subdifferential, from scratch."""
    coef = clf.coef_.astype(np.float64)
    gW, gb = smooth_gradient(coef, clf.intercept_, X, y, C, l1_ratio)
    lam = l1_ratio / (C * X.shape[0])
    lo = gW + np.where(coef > 0, lam, -lam)
    hi = gW + np.where(coef < 0, -lam, lam)
    lo[coef == lower] = -np.inf
    hi[coef == upper] = np.inf
    return max(np.maximum(np.maximum(lo, -hi), 0).max(), np.abs(gb).max())


BOUNDS = {
    "nonnegative": (0.0, np.inf),
    "box": (-0.3, 0.5),
    "per-class": (
        np.array([[-np.inf], [0.0], [-1.0]]),
        np.array([[0.0], [np.inf], [1.0]]),
    ),
    "per-entry": (
        np.tile([-np.inf, 0.2, -np.inf, -0.5], (3, 1)),
        np.tile([np.inf, np.inf, 0.1, np.inf], (3, 1)),
    ),
}


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_bounded_fit_is_feasible_and_satisfies_kkt(name, l1_ratio):
    X, y = _standardised(load_iris)
    raw = X * [10.0, 1.0, 0.1, 1.0] + [5.0, 0.0, -3.0, 0.0]  # standardisation on
    lower, upper = (np.broadcast_to(b, (3, 4)) for b in BOUNDS[name])
    for data in (X, raw):
        clf = SoftmaxRegression(
            C=0.5, l1_ratio=l1_ratio, bounds=BOUNDS[name], tol=1e-9, max_iter=5000
        ).fit(data, y)
        coef = clf.coef_
        assert np.all(coef >= lower)
        assert np.all(coef <= upper)
        assert np.any((coef == lower) | (coef == upper))  # some bound is active
        # L-BFGS-B may end on its ftol test (no decrease left in floating
        # point) a little above tol, as in LogisticRegression.
        assert _kkt_violation(clf, data, y, 0.5, l1_ratio, lower, upper) <= 1e-7


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
@pytest.mark.parametrize("sparse", [False, True])
def test_inactive_bounds_give_the_unbounded_fit(l1_ratio, sparse):
    X, y = _standardised(load_wine)
    X = sp.csr_matrix(X) if sparse else X
    free = SoftmaxRegression(C=0.5, l1_ratio=l1_ratio, tol=1e-10, max_iter=5000)
    free.fit(X, y)
    big = np.abs(free.coef_).max() + 1
    boxed = SoftmaxRegression(
        C=0.5, l1_ratio=l1_ratio, bounds=(-big, big), tol=1e-10, max_iter=5000
    ).fit(X, y)
    assert_allclose(boxed.coef_, free.coef_, atol=1e-6)
    assert_allclose(boxed.intercept_, free.intercept_, atol=1e-6)


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ((1.0, 0.0), "infeasible"),
        ((np.inf, np.inf), "infeasible"),
        ((np.nan, 1.0), "NaN"),
        ((0.0, np.ones((3, 5))), "does not broadcast"),
        ((np.zeros(3), 1.0), "does not broadcast"),
        ((0.0, 1.0, 2.0), "pair"),
        ((0.0, "x"), "not numeric"),
    ],
)
def test_bad_bounds_raise_before_any_work(monkeypatch, bounds, match):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the bounds were checked")

    monkeypatch.setattr(softreg._estimator, "LinearObjective", no_work)
    X, y = _standardised(load_iris)
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression(bounds=bounds).fit(X, y)


def test_check_bounds_broadcasts_and_drops_free_bounds():
    lower, upper = check_bounds((np.zeros((3, 1)), np.inf), 3, 2)
    assert lower.shape == upper.shape == (3, 2)
    assert check_bounds((-np.inf, np.inf), 3, 2) == (None, None)


def test_bounds_with_float32_and_sparse_input():
    X, y = _standardised(load_iris)
    Xs = sp.csr_matrix(X.astype(np.float32))
    clf = SoftmaxRegression(bounds=(0, 1), l1_ratio=0.5, tol=1e-6).fit(Xs, y)
    assert clf.coef_.dtype == np.float32
    assert clf.coef_.min() >= 0
    assert clf.coef_.max() <= 1
    dense = SoftmaxRegression(bounds=(0, 1), l1_ratio=0.5, tol=1e-6).fit(X, y)
    assert_allclose(clf.coef_, dense.coef_, atol=1e-4)
    # Bounds that float32 cannot represent still hold for the float32 coef_.
    for bounds in [(-0.1, 0.1), (0.1, 0.7), (-0.7, -0.1)]:
        f32 = SoftmaxRegression(bounds=bounds).fit(X.astype(np.float32), y)
        assert f32.coef_.dtype == np.float32
        # In float64: a Python float compared with float32 is rounded first.
        assert f32.coef_.astype(np.float64).min() >= bounds[0]
        assert f32.coef_.astype(np.float64).max() <= bounds[1]
        assert (f32.coef_ == np.float32(bounds[1])).any() or (
            f32.coef_ == np.nextafter(np.float32(bounds[1]), np.float32(-1))
        ).any()


# --- max_iter=0, sparsify / densify -------------------------------------------


@pytest.mark.parametrize(
    ("solver", "l1_ratio"),
    [("lbfgs", 0.0), ("lbfgs", 1.0), ("newton-cg", 0.0), ("trust-ncg", 0.0)],
)
def test_max_iter_zero_like_logistic_regression(solver, l1_ratio):
    # scikit-learn's test_zero_max_iter: the state right after initialisation
    # (its lbfgs alone already takes a step; its newton-cg does not).
    X, y = _standardised(load_iris)
    ref = LogisticRegression(max_iter=0, solver="newton-cg")
    with pytest.warns(ConvergenceWarning):
        ref.fit(X, y)
    clf = SoftmaxRegression(max_iter=0, l1_ratio=l1_ratio, solver=solver)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 0
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(clf.intercept_, ref.intercept_)
    assert_allclose(clf.predict_proba(X), ref.predict_proba(X))
    # A warm start keeps the previous coefficients.
    clf.set_params(max_iter=100, warm_start=True).fit(X, y)
    before = clf.coef_.copy()
    with pytest.warns(ConvergenceWarning):
        clf.set_params(max_iter=0, tol=1e-12).fit(X, y)
    assert_array_equal(clf.coef_, before)
    assert clf.n_iter_ == 0
    # A start that already meets tol is converged: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.set_params(tol=1.0).fit(X, y)
    assert_array_equal(clf.coef_, before)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc", "coo", "bsr", "dok", "lil"])
def test_sparsify_keeps_predictions(fmt):
    X, y = _standardised(load_wine)
    clf = SoftmaxRegression(C=0.1, l1_ratio=1.0).fit(X, y)
    Xt = X if fmt == "dense" else sp.csr_matrix(X).asformat(fmt)
    expected = clf.predict_proba(Xt), clf.decision_function(Xt), clf.predict(Xt)
    dense_coef = clf.coef_.copy()
    assert clf.sparsify() is clf
    assert sp.issparse(clf.coef_)
    assert_allclose(clf.predict_proba(Xt), expected[0], rtol=1e-12)
    assert_allclose(clf.decision_function(Xt), expected[1], rtol=1e-12, atol=1e-14)
    assert_array_equal(clf.predict(Xt), expected[2])
    # A warm start from a sparsified model works.
    clf.set_params(warm_start=True).fit(X, y)
    assert isinstance(clf.coef_, np.ndarray)
    clf.sparsify()
    assert clf.densify() is clf
    assert isinstance(clf.coef_, np.ndarray)
    assert_allclose(clf.coef_, dense_coef, atol=1e-4)


def test_sparsify_before_fit_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SoftmaxRegression().sparsify()


@pytest.mark.parametrize("l1_ratio", [0.0, 0.6])
def test_bounded_view_gradient_and_maps(l1_ratio):
    # The split, standardised, bounded variables: the gradient matches central
    # differences of the objective, and to_w / to_u map back and forth.
    from scipy.optimize import check_grad

    from softreg._objective import LinearObjective
    from softreg._split import BoundedView
    from softreg._standardize import Standardized
    from softreg.normalizers import Softmax

    X, y = _standardised(load_iris)
    X = X * [10.0, 1.0, 0.1, 1.0] + [5.0, 0.0, -3.0, 0.0]  # not near identity
    lower, upper = check_bounds((-1.0, [[2.0, np.inf, 1.0, np.inf]]), 3, 4)
    penalty = ElasticNet(l1_ratio, lower, upper)
    obj = LinearObjective(
        X, y, 3, Softmax(), np.ones(y.size), C=0.5, fit_intercept=True,
        penalty=penalty,
    )  # fmt: skip
    view = BoundedView(Standardized(obj), obj.penalty)
    assert view.problem.scale is not None
    rng = np.random.default_rng(0)
    x = np.clip(rng.uniform(0, 0.5, view.bounds.lb.size), view.bounds.lb, None)
    x = np.minimum(x, view.bounds.ub)
    err = check_grad(
        lambda v: view.loss_gradient(v)[0], lambda v: view.loss_gradient(v)[1], x
    )
    assert err <= 1e-6 * np.linalg.norm(view.loss_gradient(x)[1])
    # The objective in x is the original one at to_w(x) when P * N = 0.
    w = rng.normal(size=obj.n_params) * 0.5
    x = view.to_u(w)
    w_feasible = view.to_w(x)
    Wt = w_feasible[:12].reshape(4, 3)
    assert np.all(Wt >= lower.T)
    assert np.all(Wt <= upper.T)
    assert_allclose(view.project(w), w_feasible, atol=1e-12)
    smooth = obj.loss_gradient(w_feasible)[0]
    assert_allclose(
        view.loss_gradient(x)[0], smooth + obj.penalty.l1 * np.abs(Wt).sum()
    )
