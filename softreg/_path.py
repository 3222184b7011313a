"""Regularisation paths: one fit per ``C``, strongest penalty first, warm-started.

A path is a sequence of ordinary :class:`~softreg.SoftmaxRegression` solves
(the estimator's own ``_solve``: same objective, same solvers, same stopping
test) that differ only in ``C``. Two things make it cheaper than as many
independent fits:

* **warm starts**: each solve starts from the previous solution. The grid is
  walked from the smallest ``C`` (strongest penalty, solution near zero,
  cheapest fit) to the largest, so every start is close to its optimum
  (Friedman, Hastie and Tibshirani 2010, "Regularization Paths for
  Generalized Linear Models via Coordinate Descent");
* **shared statistics**: the weighted feature moments that the solvers'
  standardised variables need do not depend on ``C``; they are computed once
  per path instead of once per solve.
"""

from numbers import Integral

import numpy as np

from ._blocks import InMemoryRows


def c_grid(Cs):
    """The grid of ``C`` values, in the order given.

    Parameters
    ----------
    Cs : int or array-like of float
        An int ``n`` gives ``n`` values log-spaced between ``1e-4`` and
        ``1e4`` (as :class:`~sklearn.linear_model.LogisticRegressionCV`);
        otherwise the values themselves, each in ``(0, inf]``.

    Returns
    -------
    Cs : ndarray of shape (n_cs,)

    Examples
    --------
    >>> from softreg._path import c_grid
    >>> c_grid(3)
    array([1.e-04, 1.e+00, 1.e+04])
    """
    if isinstance(Cs, Integral):
        return np.logspace(-4, 4, Cs)
    try:
        grid = np.asarray(Cs, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Cs must be an int or a list of positive floats; {exc}"
        ) from exc
    if grid.size == 0 or not np.all(grid > 0):  # NaN fails the test too
        raise ValueError(
            f"Cs must be an int or a non-empty list of floats in (0, inf]; got {Cs!r}"
        )
    return grid


def fit_path(estimator, X, y_enc, n_classes, sample_weight, Cs, temperature=1.0):
    """Fit ``estimator`` at every ``C`` of ``Cs``, strongest penalty first.

    Parameters
    ----------
    estimator : SoftmaxRegression
        Configured, with ``normalizer_`` set; used as the solver of every
        step: its ``C``, ``coef_`` and ``intercept_`` are overwritten.
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
        Validated training data.
    y_enc : ndarray of shape (n_samples,)
        Encoded labels in ``range(n_classes)``.
    n_classes : int
    sample_weight : ndarray of shape (n_samples,)
        Sample weights with the class weights folded in.
    Cs : ndarray of shape (n_cs,)
        Any order; the fits run in increasing ``C``.
    temperature : float, default=1.0
        Training temperature.

    Returns
    -------
    coefs : ndarray of shape (n_cs, n_classes, n_features)
    intercepts : ndarray of shape (n_cs, n_classes)
    n_iter : ndarray of shape (n_cs,)
        Solver iterations of each step. All three in the order of ``Cs``.
    """
    n_features = X.shape[1]
    # One rows object for the whole path: its blocks, chunks and the feature
    # moments of the standardisation (one pass) serve every step.
    rows = InMemoryRows(
        X, y_enc, sample_weight, n_classes, estimator._runner(), keep_last_pass=True
    )
    coefs = np.empty((len(Cs), n_classes, n_features))
    intercepts = np.empty((len(Cs), n_classes))
    n_iter = np.zeros(len(Cs), dtype=np.int32)
    warm_start = False
    # Each step starts from the last one's end point itself, not from its
    # centred coefficients (equal up to rounding): the rows then already
    # hold that point's pass (keep_last_pass), so the step's first
    # evaluation, and all of a step whose start already meets tol, cost no
    # pass.
    end_point = []
    for i in np.argsort(Cs, kind="stable"):
        estimator.C = float(Cs[i])
        coefs[i], intercepts[i], n_iter[i] = estimator._solve(
            rows, n_classes, temperature, warm_start, start=end_point
        )
        estimator.coef_, estimator.intercept_ = coefs[i], intercepts[i]
        warm_start = True
    return coefs, intercepts, n_iter
