"""Solvers: scipy.optimize driven on a flat parameter vector."""

import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning


def minimize_lbfgs(objective, w0, *, tol, max_iter, verbose=0):
    """Minimise with L-BFGS-B using scikit-learn's LogisticRegression settings.

    Needs only ``objective.loss_gradient``.

    Parameters
    ----------
    objective : LinearObjective
        Provides ``loss_gradient(w) -> (loss, grad)``.
    w0 : ndarray of shape (n_params,)
        Start point, float64.
    tol : float
        ``gtol``: stop when the largest projected gradient entry is below it.
    max_iter : int
        Iteration limit; reaching it raises a ConvergenceWarning.
    verbose : int, default=0
        Print one line per iteration if positive.

    Returns
    -------
    w : ndarray of shape (n_params,)
    n_iter : int
    """
    last = {}

    def fun(w):
        loss, grad = objective.loss_gradient(w)
        last["loss"], last["grad"] = loss, grad
        return loss, grad

    def report(intermediate_result):
        report.iteration += 1
        print(
            f"iter {report.iteration:4d}  loss {last['loss']:.10g}  "
            f"|grad|_max {np.max(np.abs(last['grad'])):.3e}"
        )

    report.iteration = 0
    result = minimize(
        fun,
        w0,
        method="L-BFGS-B",
        jac=True,
        callback=report if verbose else None,
        # As in LogisticRegression: a longer line search and an ftol at machine
        # precision so that gtol alone decides convergence.
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    if result.status != 0:
        warnings.warn(
            f"L-BFGS-B did not converge ({result.message}) after {result.nit} "
            f"iterations. Increase max_iter, scale the data (e.g. with "
            "StandardScaler) or loosen tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return result.x, max(int(result.nit), 1)


#: Solver name -> function(objective, w0, *, tol, max_iter, verbose) -> (w, n_iter).
SOLVERS = {"lbfgs": minimize_lbfgs}
