"""Every solver reaches LogisticRegression's optimum, on every data path."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model._linear_loss import LinearModelLoss

from softreg import SoftmaxRegression, _estimator, _solvers
from softreg._blocks import BlockRunner
from softreg._objective import LinearObjective
from softreg._solvers import SOLVERS
from softreg._standardize import Standardized
from softreg.normalizers import Normalizer, Softmax

SOLVER_NAMES = sorted(SOLVERS)
TIGHT = {"tol": 1e-8, "max_iter": 2000}


def _data(n=400, p=8, k=4, seed=0, badly_scaled=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = np.argmax(X @ rng.normal(size=(p, k)) + rng.gumbel(size=(n, k)), axis=1)
    if badly_scaled:
        X[:, 0] *= 1e3
        X[:, 1] *= 1e-2
        X[:, 2] = 500 + 30 * X[:, 2]
    return X, y


def sklearn_objective(model, X, y, C):
    """LogisticRegression's objective at a fitted model, in float64."""
    classes = np.unique(y)
    lml = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=classes.size), fit_intercept=True
    )
    coef = np.hstack([model.coef_, model.intercept_[:, None]]).astype(np.float64)
    X = X.astype(np.float64)
    return lml.loss(
        coef,
        X,
        np.searchsorted(classes, y).astype(float),
        l2_reg_strength=1 / (C * X.shape[0]),
    )


@pytest.fixture(scope="module")
def reference():
    X, y = _data()
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y)
    return X, y, ref


@pytest.mark.parametrize("solver", SOLVER_NAMES)
@pytest.mark.parametrize("layout", ["dense", "csr", "float32"])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_solvers_reach_logistic_regressions_optimum(reference, solver, layout, n_jobs):
    X, y, ref = reference
    Xin = {"dense": X, "csr": sp.csr_matrix(X), "float32": X.astype(np.float32)}
    clf = SoftmaxRegression(C=0.5, solver=solver, n_jobs=n_jobs, **TIGHT)
    clf.fit(Xin[layout], y)
    f_ours = sklearn_objective(clf, X, y, 0.5)
    f_ref = sklearn_objective(ref, X, y, 0.5)
    if layout == "float32":
        # Scores and gradients in float32: optimal to float32 precision.
        assert f_ours <= f_ref * (1 + 1e-6)
        assert_allclose(clf.coef_, ref.coef_, atol=2e-3)
    else:
        assert f_ours <= f_ref * (1 + 1e-12)
        assert_allclose(clf.coef_, ref.coef_, atol=1e-6)
        assert_allclose(clf.intercept_, ref.intercept_, atol=1e-6)
        assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-7)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_solvers_agree_on_badly_scaled_raw_data(solver):
    X, y = _data(seed=1, badly_scaled=True)
    clf = SoftmaxRegression(C=1.0, solver=solver, **TIGHT).fit(X, y)
    best = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-10).fit(X, y)
    f_ours = sklearn_objective(clf, X, y, 1.0)
    f_best = sklearn_objective(best, X, y, 1.0)
    assert f_ours <= f_best * (1 + 1e-10)
    assert_allclose(clf.predict_proba(X), best.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_standardising_changes_the_path_not_the_optimum(solver):
    X, y = _data(seed=2, badly_scaled=True)
    objective = LinearObjective(X, y, 4, Softmax(), np.ones(len(y)), 1.0, True)
    w0 = np.zeros(objective.n_params)
    results = {}
    for standardize in (True, False):
        with warnings.catch_warnings():
            # Unstandardised, the raw columns can exhaust max_iter.
            warnings.simplefilter("ignore", ConvergenceWarning)
            w, n_iter = SOLVERS[solver](
                objective, w0, tol=1e-8, max_iter=3000, standardize=standardize
            )
        results[standardize] = objective.loss_gradient(w)[0], n_iter
    (f_std, it_std), (f_raw, it_raw) = results[True], results[False]
    assert f_std <= f_raw * (1 + 1e-10)
    assert it_std < it_raw


def test_standardized_map_is_exact():
    X, y = _data(seed=3, badly_scaled=True)
    sw = np.random.default_rng(3).uniform(0.5, 2, len(y))
    objective = LinearObjective(X, y, 4, Softmax(), sw, 0.3, True)
    problem = Standardized(objective)
    assert problem.scale is not None
    assert problem.mean is not None
    rng = np.random.default_rng(4)
    u, p = rng.normal(size=objective.n_params), rng.normal(size=objective.n_params)
    w = problem.to_w(u)
    assert_allclose(problem.to_u(w), u, rtol=1e-12)
    # Scores are unchanged: X W^T + b == ((X - mu) / sigma) V + c.
    Wt, b = w[:32].reshape(8, 4), w[32:]
    V, c = u[:32].reshape(8, 4), u[32:]
    Xs = (X - problem.mean) / problem.scale
    assert_allclose(X @ Wt + b, Xs @ V + c, rtol=1e-9, atol=1e-9)
    # Gradient and Hessian products in u are those of f(to_w(u)).
    _loss, grad = problem.loss_gradient(u)
    eps = 1e-6
    fd = [
        (
            objective.loss_gradient(problem.to_w(u + eps * e))[0]
            - objective.loss_gradient(problem.to_w(u - eps * e))[0]
        )
        / (2 * eps)
        for e in np.eye(u.size)
    ]
    assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    fd_h = (
        problem.pull_back(objective.loss_gradient(problem.to_w(u + eps * p))[1])
        - problem.pull_back(objective.loss_gradient(problem.to_w(u - eps * p))[1])
    ) / (2 * eps)
    assert_allclose(problem.hessp(u, p), fd_h, rtol=1e-5, atol=1e-7)


def test_standardized_is_identity_on_standardised_data():
    X, y = _data(seed=5)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    objective = LinearObjective(X, y, 4, Softmax(), np.ones(len(y)), 1.0, True)
    problem = Standardized(objective)
    assert problem.scale is None
    w = np.arange(objective.n_params, dtype=float)
    assert_array_equal(problem.to_w(w), w)


def test_nearly_constant_columns_keep_a_sane_scale():
    X, y = _data(seed=6)
    X[:, 0] = 1.0
    X[:, 1] = 1e-9 * np.random.default_rng(6).normal(size=len(y))
    objective = LinearObjective(X, y, 4, Softmax(), np.ones(len(y)), 1.0, True)
    problem = Standardized(objective)
    assert problem.scale[0] == 1.0
    assert problem.scale[1] >= np.sqrt(4 * objective.l2) * 0.99
    ours = SoftmaxRegression(C=1.0, **TIGHT).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_fits_are_bit_identical_across_runs(solver, n_jobs):
    X, y = _data(n=3000, seed=7)
    fits = [
        SoftmaxRegression(solver=solver, n_jobs=n_jobs, tol=1e-6).fit(X, y)
        for _ in range(2)
    ]
    assert_array_equal(fits[0].coef_, fits[1].coef_)
    assert_array_equal(fits[0].intercept_, fits[1].intercept_)
    assert fits[0].n_iter_ == fits[1].n_iter_


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_temperature_is_a_reparametrisation_of_C_for_every_solver(solver):
    # Training at temperature T with C gives the predictions of T=1, C/T^2.
    X, y = _data(seed=8)
    hot = SoftmaxRegression(C=1.0, temperature=2.0, solver=solver, **TIGHT)
    cold = SoftmaxRegression(C=0.25, solver=solver, **TIGHT)
    assert_allclose(
        hot.fit(X, y).predict_proba(X), cold.fit(X, y).predict_proba(X), atol=1e-7
    )
    # coef_ are the scores' coefficients: the same for both.
    assert_allclose(hot.coef_, cold.coef_, atol=1e-6 / 2.0)


class _NoHessian(Normalizer):
    """A softmax without the optional ``hessp``."""

    def __call__(self, Z):
        return Softmax()(Z)

    def loss_gradient(self, Y, Z):
        return Softmax().loss_gradient(Y, Z)


@pytest.mark.parametrize("solver", [s for s in SOLVER_NAMES if s != "lbfgs"])
def test_newton_solvers_name_the_missing_normalizer_method(solver):
    X, y = _data(seed=9)
    assert SOLVERS[solver].requires == ("hessp",)
    with pytest.raises(TypeError, match=r"hessp.*_NoHessian|_NoHessian.*hessp"):
        SoftmaxRegression(normalizer=_NoHessian(), solver=solver).fit(X, y)
    # L-BFGS needs only loss_gradient.
    assert SOLVERS["lbfgs"].requires == ()
    SoftmaxRegression(normalizer=_NoHessian(), solver="lbfgs").fit(X, y)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_a_plan_that_does_not_fit_in_memory_is_refused(monkeypatch, solver):
    X, y = _data(seed=10)
    monkeypatch.setattr(_solvers, "available_memory", lambda: 10_000)
    # The fit's own check (softreg._robust) would refuse first: bypass it to
    # reach the solver's plan.
    monkeypatch.setattr(_estimator, "check_fit_memory", lambda *a, **k: None)
    msg = re.escape(f"solver='{solver}' would need about")
    with pytest.raises(MemoryError, match=msg + r".*only 0\.00 GiB is available"):
        SoftmaxRegression(solver=solver).fit(X, y)


def test_memory_plan_grows_with_parameters():
    X, y = _data(seed=11)
    small = LinearObjective(X, y, 4, Softmax(), np.ones(len(y)), 1.0, True)
    _solvers.check_memory_plan(small, "lbfgs", 40)  # fits: no error
    huge = LinearObjective(
        sp.csr_matrix((len(y), 10**8)), y, 1000, Softmax(), np.ones(len(y)), 1.0, True
    )
    with pytest.raises(MemoryError, match="100000001000 parameters"):
        _solvers.check_memory_plan(huge, "lbfgs", 40)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_iteration_limit_warns_and_verbose_prints(solver, capsys):
    X, y = _data(seed=12, badly_scaled=True)
    with pytest.warns(ConvergenceWarning, match="did not converge") as record:
        SoftmaxRegression(solver=solver, max_iter=2, tol=1e-12, verbose=1).fit(X, y)
    # The warning points at this file, the caller of fit.
    assert record[0].filename == __file__
    out = capsys.readouterr().out
    assert re.search(r"iter\s+1\s+loss [0-9.]+\s+\|grad\|_max", out)


def test_a_start_at_the_optimum_takes_no_step():
    X, y = _data(seed=13)
    objective = LinearObjective(X, y, 4, Softmax(), np.ones(len(y)), 1.0, True)
    w, _ = SOLVERS["trust-ncg"](objective, np.zeros(objective.n_params), **TIGHT)
    w2, n_iter = SOLVERS["lbfgs"](objective, w, tol=1e-6, max_iter=10)
    assert n_iter == 0
    assert_array_equal(w2, w)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_blocked_and_threaded_fit_equals_unblocked(solver):
    X, y = _data(n=500, seed=14)
    sw = np.random.default_rng(14).uniform(0.5, 2, len(y))
    results = []
    for n_threads, rows in [(1, None), (3, 17)]:
        runner = BlockRunner(n_threads)
        objective = LinearObjective(
            X, y, 4, Softmax(), sw, 1.0, True, runner=runner, block_rows=rows
        )
        with runner.running():
            w, _ = SOLVERS[solver](objective, np.zeros(objective.n_params), **TIGHT)
        results.append(w)
    assert_allclose(results[0], results[1], atol=1e-7)
