"""Detection of (quasi-)separation: when the maximum-likelihood estimate is infinite.

At ``C=inf`` the multinomial log-likelihood has no maximum when some
direction ``d`` of the parameters never decreases any sample's margin,
``x_i . (d_k - d_m) >= 0`` for every sample ``i`` of class ``k`` and every
other class ``m``, and increases some: moving along ``d`` raises the
likelihood forever, so the coefficients that ``d`` moves are infinite. This
is the setting of Konis (2007), "Linear programming algorithms for
detecting separated data in binary logistic regression models", extended to
several classes; one linear program finds the separating direction that
makes as many margins strictly positive as possible. Soft targets count as
the replicated data set (row ``i`` with class ``k`` wherever
``s_i Y_ik > 0``).
"""

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

#: Largest number of constraint-matrix entries for which the linear program
#: is solved (about a second with HiGHS); larger problems skip it and rely on
#: the fitted margins (complete separation) and the singular-value test.
MAX_ENTRIES = 1_000_000


def separation_direction(X, targets, sample_weight, n_classes, fit_intercept):
    """A direction of unbounded likelihood increase, if there is one.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples,) or (n_samples, n_classes)
    sample_weight : ndarray of shape (n_samples,)
    n_classes : int
    fit_intercept : bool

    Returns
    -------
    checked : bool
        False when the problem was too large to check.
    direction : ndarray of shape (n_features + fit_intercept, n_classes) or None
        Rows are features (then the intercept), columns classes; None when
        the data are not separated.
    """
    K = n_classes
    q = X.shape[1] + int(fit_intercept)
    keep = np.asarray(sample_weight) > 0
    if targets.ndim == 1:
        rows, cls = np.flatnonzero(keep), targets[keep]
    else:
        rows, cls = np.nonzero((targets > 0) & keep[:, None])
    n_con = rows.size * (K - 1)
    if n_con * 2 * q > MAX_ENTRIES:
        return False, None
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    # Separation is invariant to positive column scaling; unit scale makes
    # the margins of every feature comparable.
    scale = np.abs(Xd).max(axis=0)
    scale[scale == 0] = 1.0
    Xd = Xd / scale
    if fit_intercept:
        Xd = np.hstack([Xd, np.ones((Xd.shape[0], 1))])
    others = np.array([[m for m in range(K) if m != k] for k in range(K)])
    r = np.repeat(rows, K - 1)
    k = np.repeat(cls, K - 1)
    m = others[cls].ravel()
    # x_r . (d_k - d_m) >= 0 as -x_r . d_k + x_r . d_m <= 0, with d flat as
    # j * K + class.
    con = np.repeat(np.arange(n_con), q)
    j = np.tile(np.arange(q), n_con)
    vals = Xd[r].ravel()
    A = sp.csr_matrix(
        (
            np.r_[-vals, vals],
            (np.r_[con, con], np.r_[j * K + np.repeat(k, q), j * K + np.repeat(m, q)]),
        ),
        shape=(n_con, q * K),
    )
    # Maximise the number of strict margins: t_c <= 1 is the slack of
    # constraint c, and a direction exists with t_c = 1 for every constraint
    # that any separating direction makes strict (the cone is convex and
    # scalable), so the solution lies in the cone's relative interior and
    # moves every parameter that separation makes infinite.
    A_ub = sp.hstack([A, sp.identity(n_con, format="csr")], format="csr")
    objective = np.r_[np.zeros(q * K), -np.ones(n_con)]
    bounds = [(None, None)] * (q * K) + [(0, 1)] * n_con
    result = linprog(objective, A_ub=A_ub, b_ub=np.zeros(n_con), bounds=bounds)
    if result.status != 0 or -result.fun < 0.5:
        return True, None
    d = result.x[: q * K].reshape(q, K)
    d[: X.shape[1]] /= scale[:, None]
    return True, d
