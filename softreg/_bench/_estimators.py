"""The benchmarked estimators: names, construction, skip rules, objective."""

import importlib.util

import numpy as np

from .._solvers import SOLVERS, available_memory


def _sklearnex_available():
    return importlib.util.find_spec("sklearnex") is not None


def estimator_names(include_sklearnex=True):
    """Names of the benchmarked fits, softreg's first."""
    names = [f"softreg {s}" for s in SOLVERS]
    names += [f"sklearn {s}" for s in ("lbfgs", "newton-cg", "newton-cholesky")]
    if include_sklearnex and _sklearnex_available():
        names += ["sklearnex lbfgs", "sklearnex newton-cg"]
    return names


def make_estimator(name, C, tol, max_iter, n_jobs=None):
    """A fresh estimator for one of :func:`estimator_names`."""
    lib, solver = name.split(" ", 1)
    if lib == "softreg":
        from .._estimator import SoftmaxRegression

        return SoftmaxRegression(
            C=C, tol=tol, max_iter=max_iter, solver=solver, n_jobs=n_jobs
        )
    if lib == "sklearn":
        from sklearn.linear_model import LogisticRegression
    else:
        from sklearnex.linear_model import LogisticRegression
    return LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=solver)


#: Per-iteration Hessian cost above which newton-cholesky is not run.
_NEWTON_CHOLESKY_MAX_FLOPS = 1e12


def skip_reason(name, X, n_classes, quick=False):
    """Why ``name`` cannot run on this data here, or None."""
    if name.endswith("newton-cholesky"):
        d = (X.shape[1] + 1) * n_classes
        if quick and d > 2000:
            return f"skipped in --quick: a {d}x{d} Hessian is no smoke test"
        # The Hessian, and the copy scipy.linalg.solve factorises.
        need = 2 * 8 * d * d
        have = available_memory()
        if have is not None and need > 0.5 * have:
            return (
                f"skipped: dense Hessian of ((n_features+1)*n_classes)^2 = {d}^2 "
                f"entries needs ~{need / (1 << 30):,.0f} GiB, "
                f"{have / (1 << 30):.0f} GiB available"
            )
        # Each iteration builds the Hessian from n_classes^2 / 2 class-pair
        # products, about n * d^2 / 2 flops. On dense64 (1e11 flops) it ran
        # at ~7 GFLOP/s on 2 cores; at 50000x100 with 100 classes (2.6e12)
        # it was still in its first iterations after 10 minutes.
        flops = X.shape[0] * d * d / 2
        if flops > _NEWTON_CHOLESKY_MAX_FLOPS:
            return (
                f"skipped: building its {d}x{d} Hessian costs ~{flops:.1e} flops "
                "per iteration (minutes each here)"
            )
    return None


def _n_iter(model):
    n = getattr(model, "n_iter_", None)
    return None if n is None else int(np.max(n))


def sklearn_objective(model, X, y, C):
    """The fitted model's objective by scikit-learn's formula, in float64.

    ``LinearModelLoss(HalfMultinomialLoss)`` with ``l2_reg_strength =
    1 / (C n)`` at ``[coef_ | intercept_]``: the objective LogisticRegression
    minimises, computed without any softreg code.
    """
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    classes = np.unique(y)
    coef = np.hstack([model.coef_, model.intercept_[:, None]]).astype(np.float64)
    loss = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=classes.size), fit_intercept=True
    )
    X64 = X.astype(np.float64) if X.dtype != np.float64 else X
    y_enc = np.searchsorted(classes, y).astype(np.float64)
    return float(loss.loss(coef, X64, y_enc, l2_reg_strength=1.0 / (C * X.shape[0])))
