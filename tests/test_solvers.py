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

from softreg import SoftmaxRegression, _blocks, _estimator, _solvers
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
    # newton-cholesky reaches the optimum to rounding; lbfgs stops on ftol.
    ref = LogisticRegression(C=0.5, tol=1e-10, solver="newton-cholesky").fit(X, y)
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
    _assert_derivatives_pulled_back(problem, u, p)


def _assert_derivatives_pulled_back(problem, u, p):
    """Gradient and Hessian products in u are those of f(to_w(u))."""
    objective = problem.objective
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
    ref = LogisticRegression(C=1.0, tol=1e-10, solver="newton-cholesky").fit(X, y)
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


def test_available_memory_reading_is_reused_briefly(monkeypatch):
    # A fit checks memory twice and a grid search fits hundreds of times:
    # one reading of the system's files serves calls within a quarter second.
    readings = iter([111, 222])
    monkeypatch.setattr(_solvers, "_read_available_memory", lambda: next(readings))
    monkeypatch.setattr(_solvers, "_memory_reading", [-np.inf, None])
    clock = [100.0]
    monkeypatch.setattr(_solvers.time, "monotonic", lambda: clock[0])
    assert _solvers.available_memory() == 111
    clock[0] += 0.5 * _solvers._MEMORY_READING_SECONDS
    assert _solvers.available_memory() == 111
    clock[0] += _solvers._MEMORY_READING_SECONDS
    assert _solvers.available_memory() == 222


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


# --- tol is honoured (see docs/user_guide/numerical.rst) --------------------


def sklearn_gradient_max(model, X, y, C, sample_weight=None):
    """Largest gradient entry of LogisticRegression's objective at ``model``.

    scikit-learn's own loss module (float64) is the reference, not softreg's
    objective: a fit that claims convergence must meet ``tol`` on it.
    """
    classes = np.unique(y)
    sw = np.ones(y.size) if sample_weight is None else sample_weight
    lml = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=classes.size), fit_intercept=True
    )
    coef = np.hstack([model.coef_, model.intercept_[:, None]]).astype(np.float64)
    grad = lml.gradient(
        coef,
        np.asarray(X, dtype=np.float64),
        np.searchsorted(classes, y).astype(float),
        sample_weight=sw / sw.sum(),
        l2_reg_strength=1 / (C * sw.sum()),
    )
    return np.abs(grad).max()


def _small_problem():
    # 100 x 20, 4 classes: at tol=1e-12 the objective changes by ~1e-24 per
    # step, far below the rounding of its value (~1e-16): L-BFGS-B's ftol
    # test and line searches alone stop at a gradient of ~1e-8.
    from sklearn.datasets import make_classification

    return make_classification(100, 20, n_informative=8, n_classes=4, random_state=0)


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_tight_tol_is_met_without_warning(solver):
    X, y = _small_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegression(C=1.0, tol=1e-12, max_iter=10_000, solver=solver)
        clf.fit(X, y)
    # Centring the fitted coefficients moves the gradient by rounding only.
    assert sklearn_gradient_max(clf, X, y, C=1.0) <= 1e-12 * 4


def test_tight_tol_cold_and_warm_starts_agree():
    # Both meet tol=1e-12; the optimum is 1/(C S)-strongly convex, so they are
    # within 2 sqrt(P) tol C S = 5e-9 of each other (P = 84, S = 100).
    X, y = _small_problem()
    params = dict(C=1.0, tol=1e-12, max_iter=10_000)
    cold = SoftmaxRegression(**params).fit(X, y)
    warm = SoftmaxRegression(**params, warm_start=True).fit(X, y)
    warm.coef_ = cold.coef_ + np.random.default_rng(0).normal(0, 1e-3, cold.coef_.shape)
    warm.fit(X, y)
    bound = 2 * np.sqrt(84) * 1e-12 * 1.0 * 100
    assert_allclose(warm.coef_, cold.coef_, rtol=0, atol=bound)


def test_tight_tol_lasso_meets_the_kkt_conditions():
    X, y = _small_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegression(C=1.0, l1_ratio=1.0, tol=1e-12, max_iter=10_000)
        clf.fit(X, y)
    # KKT of the lasso from scikit-learn's gradient of the smooth part: zero
    # where a coefficient is non-zero (up to the L1 subgradient), at most the
    # L1 weight where it is zero.
    l1 = 1 / (1.0 * y.size)
    classes = np.unique(y)
    lml = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=classes.size), fit_intercept=True
    )
    coef = np.hstack([clf.coef_, clf.intercept_[:, None]])
    grad = lml.gradient(coef, X, y.astype(float), sample_weight=np.full(100, 0.01))
    G, gb = grad[:, :-1], grad[:, -1]
    W = clf.coef_
    viol = np.where(W != 0, np.abs(G + l1 * np.sign(W)), np.maximum(np.abs(G) - l1, 0))
    assert max(viol.max(), np.abs(gb).max()) <= 1e-12 * 4


@pytest.mark.parametrize("loader", ["wine", "breast_cancer"])
def test_newton_cg_strong_penalty_meets_tol(loader):
    # Raw (unscaled) features and C=1e-6: scipy's Newton-CG used to end with
    # "precision loss" at a gradient above tol=1e-8.
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{loader}")(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegression(C=1e-6, tol=1e-8, solver="newton-cg").fit(X, y)
    assert sklearn_gradient_max(clf, X, y, C=1e-6) <= 1e-8 * 4


def test_float32_tight_tol_converges():
    # scikit-learn's array-API compliance case: iris in float32 with
    # class_weight="balanced", sample weights, C=1e-2 and tol=1e-12. float32
    # scores cannot resolve 1e-12; the fit switches to float64 scores.
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    sw = np.random.default_rng(0).uniform(-1, 5, size=150).clip(0, None)
    sw = sw.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegression(C=1e-2, tol=1e-12, max_iter=500)
        clf.fit(X, y, sample_weight=sw)
    assert clf.coef_.dtype == np.float32
    ref = LogisticRegression(C=1e-2, tol=1e-12, solver="newton-cholesky")
    ref.fit(X.astype(np.float64), y, sample_weight=sw)
    # At the optimum to rounding, then stored in float32.
    scale = np.abs(ref.coef_).max()
    assert_allclose(
        clf.coef_, ref.coef_, rtol=0, atol=8 * np.finfo(np.float32).eps * scale
    )


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_float32_takes_about_the_passes_of_float64(solver):
    # At tol=1e-6 float32 scores resolve the objective's changes until the
    # gradient is far below tol once their noise is integrated away
    # (numerical.rst): the float32 fit follows the float64 one, pass for pass
    # up to the line searches' different last bits.
    X, y = _data(n=20_000, p=20, k=5, seed=3)
    f64 = SoftmaxRegression(tol=1e-6, solver=solver).fit(X, y)
    f32 = SoftmaxRegression(tol=1e-6, solver=solver).fit(X.astype(np.float32), y)
    assert f32.n_passes_ <= 1.25 * f64.n_passes_ + 2
    assert sklearn_gradient_max(f32, X, y, C=1.0) <= 1e-6 * 4


@pytest.mark.parametrize(
    ("l1_ratio", "measure"),
    [(0.0, "largest gradient entry"), (1.0, "optimality violation")],
)
def test_warning_names_the_measure_reached(l1_ratio, measure):
    X, y = _small_problem()
    with pytest.warns(ConvergenceWarning, match=measure) as record:
        SoftmaxRegression(l1_ratio=l1_ratio, max_iter=2, tol=1e-12).fit(X, y)
    # The warning points at this file, the caller's line.
    assert record[0].filename == __file__


def test_cv_fold_warnings_point_at_the_caller():
    from softreg import SoftmaxRegressionCV

    X, y = _small_problem()
    with pytest.warns(ConvergenceWarning) as record:
        SoftmaxRegressionCV(Cs=3, cv=3, max_iter=2, tol=1e-12, n_jobs=2).fit(X, y)
    assert {w.filename for w in record} == {__file__}
    # One warning per distinct message, not one per fold and C.
    messages = [str(w.message) for w in record]
    assert len(messages) == len(set(messages))


_REFIT_SCRIPT = """
import hashlib, sys
import numpy as np
from softreg import SoftmaxRegression
rng = np.random.default_rng(5)
n = int(sys.argv[2])
X = rng.normal(size=(n, 12)).astype(sys.argv[1])
y = rng.integers(0, 4, size=n)
clf = SoftmaxRegression(tol=1e-8, n_jobs=2).fit(X, y)
print(hashlib.sha256(clf.coef_.tobytes() + clf.intercept_.tobytes()).hexdigest())
"""


@pytest.mark.parametrize("n", [3000, 12_000])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_fit_is_bit_identical_across_processes(dtype, n):
    # Blocks are summed in a fixed order and BLAS held at one thread: the same
    # data on the same machine give the same bits in every process.
    import subprocess
    import sys

    digests = {
        subprocess.run(
            # 12000 rows: float64 data large enough for the float32 copy.
            [sys.executable, "-c", _REFIT_SCRIPT, dtype, str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(digests) == 1


class _PassLog:
    """Records the dtype of ``X`` in every in-memory pass."""

    def __init__(self, monkeypatch):
        self.dtypes = []
        log = self.dtypes
        original = _blocks.InMemoryRows.map_reduce

        def map_reduce(rows, func, *args):
            log.append(rows.X.dtype)
            return original(rows, func, *args)

        monkeypatch.setattr(_blocks.InMemoryRows, "map_reduce", map_reduce)


def _large(offset=0.0):
    # 20000 x 20 = 400000 entries: float64 data big enough for the copy.
    X, y = _data(n=20_000, p=20, k=5, seed=3)
    return X + offset, y


@pytest.mark.parametrize("solver", SOLVER_NAMES)
def test_float32_copy_serves_early_passes_and_the_fit_meets_tol_on_the_data(
    solver, monkeypatch
):
    X, y = _large()
    passes = _PassLog(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegression(tol=1e-6, solver=solver).fit(X, y)
    n32 = passes.dtypes.count(np.float32)
    # Most passes on the copy; the last, which decides convergence, on X.
    assert n32 >= 0.5 * len(passes.dtypes)
    assert passes.dtypes[-1] == np.float64
    assert clf.n_passes_ == len(passes.dtypes)
    assert clf.coef_.dtype == np.float64
    assert sklearn_gradient_max(clf, X, y, C=1.0) <= 1e-6 * 4
    # Within the tol ball of the optimum: 1/(C S)-strong convexity bounds the
    # distance by sqrt(P) tol C S (P = 105 parameters, twice for centring).
    ref = LogisticRegression(tol=1e-12, solver="newton-cholesky").fit(X, y)
    bound = 2 * np.sqrt(105) * 1e-6 * 1.0 * y.size
    assert_allclose(clf.coef_, ref.coef_, rtol=0, atol=bound)


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_tight_tol_is_met_after_the_float32_copy(offset, monkeypatch):
    # tol=1e-10 is far below the copy's rounding; with every column offset
    # by 1000 standard deviations rounding X to float32 moves the gradient
    # by ~1e-4, so the copy must hand over to X early.
    X, y = _large(offset)
    passes = _PassLog(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxRegression(tol=1e-10, max_iter=1000).fit(X, y)
    assert np.float32 in passes.dtypes
    assert sklearn_gradient_max(clf, X, y, C=1.0) <= 1e-10 * 4 * (1 + offset)


def test_no_float32_copy_without_the_memory_for_it():
    X, y = _large()
    sw = np.ones(y.size)
    needed = X.size * np.dtype(np.float32).itemsize
    short = LinearObjective(X, y, 5, Softmax(), sw, C=1.0, fit_intercept=True)
    assert not short.coarsen_precision(max_bytes=needed - 1)
    assert not short.coarse
    enough = LinearObjective(X, y, 5, Softmax(), sw, C=1.0, fit_intercept=True)
    assert enough.coarsen_precision(max_bytes=needed)
    assert enough.coarse
    assert enough.score_dtype == np.float32
    assert enough.refine_precision()
    assert not enough.coarse


@pytest.mark.parametrize("kind", ["small", "float32", "small sparse"])
def test_no_float32_copy_of_small_or_float32_data(kind):
    X, y = _large()
    X = {
        "small": X[:1000],
        "float32": X.astype(np.float32),
        "small sparse": sp.csr_matrix(X[:1000]),
    }[kind]
    y, sw = y[: X.shape[0]], np.ones(X.shape[0])
    obj = LinearObjective(X, y, 5, Softmax(), sw, C=1.0, fit_intercept=True)
    assert not obj.coarsen_precision()


def test_sparse_copy_rounds_the_values_and_shares_the_indices(monkeypatch):
    X, y = _large()
    X = sp.csr_matrix(X)
    obj = LinearObjective(
        X, y, 5, Softmax(), np.ones(y.size), C=1.0, fit_intercept=True
    )
    assert obj.coarsen_precision()
    copy = obj.rows.X
    assert copy.dtype == np.float32
    assert np.shares_memory(copy.indices, X.indices)
    assert_array_equal(copy.data, X.data.astype(np.float32))
    # And a sparse fit meets tol on X itself.
    passes = _PassLog(monkeypatch)
    clf = SoftmaxRegression(tol=1e-6).fit(X, y)
    assert np.float32 in passes.dtypes
    assert sklearn_gradient_max(clf, X.toarray(), y, C=1.0) <= 1e-6 * 4


def test_iteration_limit_on_the_copy_reports_the_datas_measure(monkeypatch):
    X, y = _large()
    passes = _PassLog(monkeypatch)
    with pytest.warns(ConvergenceWarning, match="largest gradient entry") as record:
        clf = SoftmaxRegression(max_iter=2).fit(X, y)
    # Stopped on the copy; the reported measure is taken on X itself.
    assert passes.dtypes[-1] == np.float64
    reached = float(re.search(r"entry ([0-9.e+-]+) >", str(record[0].message))[1])
    # Printed to 3 significant digits.
    assert reached == pytest.approx(sklearn_gradient_max(clf, X, y, C=1.0), rel=5e-3)


def test_a_path_makes_one_float32_copy_per_fold(monkeypatch):
    from softreg import SoftmaxRegressionCV

    made = []
    original = _blocks.InMemoryRows.coarse

    def coarse(rows, max_bytes=None):
        out = original(rows, max_bytes)
        if out is not None and all(out is not m for m in made):
            made.append(out)
        return out

    monkeypatch.setattr(_blocks.InMemoryRows, "coarse", coarse)
    X, y = _large()
    SoftmaxRegressionCV(Cs=4, cv=3, tol=1e-6).fit(X, y)
    # 3 folds and the refit: one copy each, shared by the path's 4 fits.
    assert len(made) == 4


def test_gradient_rounding_estimate_holds_near_the_optimum():
    # The estimate the handover relies on (LinearObjective.gradient_rounding):
    # the actual change of the gradient by float32 rounding, near the
    # optimum, on rows in random and in class order.
    X, y = _large()
    clf = SoftmaxRegression(tol=1e-10).fit(X, y)
    w = np.vstack([clf.coef_.T, clf.intercept_[None]]).ravel()
    for order in [np.arange(y.size), np.argsort(y, kind="stable")]:
        Xo, yo, sw = X[order], y[order], np.ones(y.size)
        exact = LinearObjective(Xo, yo, 5, Softmax(), sw, C=1.0, fit_intercept=True)
        rounded = LinearObjective(
            Xo.astype(np.float32), yo, 5, Softmax(), sw, C=1.0, fit_intercept=True
        )
        change = np.abs(exact.loss_gradient(w)[1] - rounded.loss_gradient(w)[1]).max()
        assert change <= 10 * exact.gradient_rounding(w)


@pytest.mark.parametrize("solver", ["newton-cg", "trust-ncg"])
def test_newton_solvers_restart_at_the_handover(solver, monkeypatch):
    # Offset columns make the copy's rounding large, so the handover comes
    # well before tol. The optimiser then still holds the copy's gradient at
    # the handover point; trust-ncg built model after model on it and
    # rejected every step (14 iterations against 7 on the benchmark's tall
    # data) until the run was restarted there.
    from softreg._bench._datasets import make_dataset

    X, y = make_dataset("tall", scale=0.04)  # 20000 x 20, 5 classes
    monkeypatch.setattr(_blocks, "_COARSE_MIN_ENTRIES", np.inf)
    plain = SoftmaxRegression(tol=1e-6, solver=solver).fit(X, y)
    monkeypatch.undo()
    passes = _PassLog(monkeypatch)
    copied = SoftmaxRegression(tol=1e-6, solver=solver).fit(X, y)
    assert np.float32 in passes.dtypes
    assert copied.n_iter_ <= 1.5 * plain.n_iter_ + 2
    assert sklearn_gradient_max(copied, X, y, C=1.0) <= 1e-6 * 4


def _binary_sets():
    from sklearn.datasets import load_breast_cancer, make_classification

    yield load_breast_cancer(return_X_y=True)
    for seed in range(3):
        yield make_classification(300, 10, n_informative=5, random_state=seed)


def test_two_class_fits_take_logistic_regressions_steps():
    # SoftmaxRegression(C) is the binomial LogisticRegression(2 C), and the
    # solver sees that problem in LR's own variables (the logit's w_1 - w_0),
    # so L-BFGS-B takes the same steps: the same iteration count up to one
    # flip of the stopping test by rounding. In (w_0, w_1) breast_cancer took
    # 22 iterations at C=0.5 against LR's 19.
    from sklearn.preprocessing import StandardScaler

    for X, y in _binary_sets():
        X = StandardScaler().fit_transform(X)
        for C in (0.1, 1.0, 10.0):
            ours = SoftmaxRegression(C=C / 2).fit(X, y)
            ref = LogisticRegression(C=C).fit(X, y)
            assert abs(ours.n_iter_ - ref.n_iter_[0]) <= 1, (C, ours.n_iter_)
            assert_array_equal(ours.coef_[0], -ours.coef_[1])
            assert_array_equal(ours.intercept_[0], -ours.intercept_[1])


def test_two_class_solver_variables_are_the_logits():
    X, y = _data(seed=16, k=2, badly_scaled=True)
    objective = LinearObjective(X, y, 2, Softmax(), np.ones(len(y)), 0.3, True)
    problem = Standardized(objective)
    assert problem.scale is not None
    rng = np.random.default_rng(17)
    u = rng.normal(size=9)  # the logit's 8 coefficients and intercept
    w = problem.to_w(u)
    assert w.shape == (18,)
    pairs = w.reshape(9, 2)
    assert_array_equal(pairs[:, 0], -pairs[:, 1])
    assert_allclose(problem.to_u(w), u, rtol=1e-12)
    # Unscaled, the map is the halving alone, exact both ways: a path's next
    # start (the previous end point in W) is the previous u bit for bit.
    unscaled = Standardized(objective, standardize=False)
    assert_array_equal(unscaled.to_u(unscaled.to_w(u)), u)
    # Any (W, b) maps to its logit: the same probabilities, the pair that
    # sums to zero.
    w_any = rng.normal(size=18)
    back = problem.to_w(problem.to_u(w_any)).reshape(9, 2)
    assert_allclose(back[:, 1] - back[:, 0], np.diff(w_any.reshape(9, 2))[:, 0])
    _assert_derivatives_pulled_back(problem, u, rng.normal(size=9))


@pytest.mark.parametrize(
    ("normalizer", "l1_ratio", "basis"),
    [(Softmax(), 0.0, True), (Softmax(), 0.5, False), ("taylor", 0.0, False)],
)
def test_two_class_logits_only_where_the_optimum_pair_sums_to_zero(
    normalizer, l1_ratio, basis
):
    # The pair sums to zero at the optimum for a shift-invariant normalizer
    # under the L2 penalty alone; an L1 part or bounds keep W as it is.
    from softreg._penalty import ElasticNet
    from softreg.normalizers._registry import resolve_normalizer

    X, y = _data(seed=18, k=2)
    objective = LinearObjective(
        X, y, 2, resolve_normalizer(normalizer), np.ones(len(y)), 1.0, True,
        penalty=ElasticNet(l1_ratio),
    )  # fmt: skip
    assert (Standardized(objective).basis is not None) is basis
