"""The change of variables under which the solvers see standardised data."""

import numpy as np

from ._blocks import same_point
from ._objective import unpack

# Two classes: W = u B with B = (-1/2, 1/2), so that u = w_1 - w_0 is the
# logit's coefficient vector (see Standardized).
_TWO_CLASS_BASIS = np.array([-0.5, 0.5])


class Standardized:
    """The objective seen through standardised parameters ``u``.

    With per-feature means ``mu`` and scales ``sigma`` (weighted, from
    :meth:`LinearObjective.feature_moments`; ``sigma_j^2`` is the variance
    plus ``K T^2 l2``, which keeps the penalty well scaled on nearly constant
    columns), the original parameters are
    ``W^T = V / sigma`` (row-wise) and ``b = c - mu @ W^T``, so that
    ``X W^T + b = ((X - mu) / sigma) V + c``: in ``(V, c)`` the data look
    standardised. The map is linear and invertible, the penalty is still
    ``||W||^2`` evaluated at the mapped point, and gradients and Hessian
    products are pulled back exactly (``T^T g``, ``T^T H T p``); nothing
    about the minimiser changes. Without an intercept only the scaling
    (by the root mean square) is used. When the data are already about
    standardised (every ``sigma_j`` within a factor 2 of 1 and every mean
    within half a ``sigma_j`` of 0) the map is left as the identity, so the
    iterates are those of the same method on the original problem.

    **Two classes.** With a shift-invariant normalizer and the L2 penalty
    alone (no L1 part, no bounds), the optimum of a two-class problem has
    ``w_0 = -w_1`` and ``b_0 = -b_1`` (adding a vector to both classes'
    weights changes no probability, and the penalty is smallest for the
    pair that sums to zero). The solver then sees only the logit's
    coefficients ``u = w_1 - w_0`` (and ``b_1 - b_0``), mapped to
    ``W = (-u / 2, u / 2)``: half the variables, and exactly the binomial
    problem that LogisticRegression solves at ``2 C``, in its variables, so
    that L-BFGS-B takes the same steps as there. (In ``(w_0, w_1)`` the
    iterates stay on the same line, but its first step, of unit length in
    its variables, is a different step, and breast_cancer then took 26
    iterations instead of 21.) Standardisation acts on ``u``.

    Parameters
    ----------
    objective : LinearObjective
    standardize : bool, default=True
        If False, neither scaled nor centred: the optimiser sees ``W`` and
        ``b`` (for two classes, the logit's coefficients and intercept).

    Examples
    --------
    >>> import numpy as np
    >>> from softreg._objective import LinearObjective
    >>> from softreg._standardize import Standardized
    >>> from softreg.normalizers import Softmax
    >>> X = np.array([[100.0, 1.0], [300.0, 0.0], [200.0, 2.0]])
    >>> obj = LinearObjective(X, np.array([0, 1, 2]), 3, Softmax(),
    ...                       np.ones(3), C=1.0, fit_intercept=True)
    >>> prob = Standardized(obj)
    >>> w = np.arange(9.0)
    >>> np.allclose(prob.to_w(prob.to_u(w)), w)
    True
    """

    #: Variable bounds for L-BFGS-B: none (see :mod:`softreg._split`).
    bounds = None
    #: What :meth:`grad_max` measures, for messages.
    measure = "gradient entry"

    def __init__(self, objective, standardize=True):
        self.objective = objective
        p, K = objective.n_features, objective.n_classes
        self.n_features, self.n_classes = p, K
        # The class columns of the solver's variables: the logit's alone for
        # two classes (see the class docstring), else one per class. The
        # kernel's pair is the same condition on the loss (two classes, a
        # shift-invariant normalizer); the optimum's pair sums to zero only
        # under the L2 penalty alone.
        self.basis = None
        if objective.kernel.pair and objective.penalty.centred:
            self.basis = _TWO_CLASS_BASIS
        self.n_columns = K if self.basis is None else 1
        self.mean = None
        self.scale = None
        if standardize:
            mean, mean_sq = objective.feature_moments()
            if objective.fit_intercept:
                var = np.maximum(mean_sq - mean**2, 0.0)
            else:
                var, mean = mean_sq, np.zeros_like(mean)
            # The scale equalises the curvature of the objective along each
            # feature's weights: about var_j / (K T^2) from the data at the
            # zero start, plus the penalty's l2. Scaling by the standard
            # deviation alone would blow up the penalty's curvature (l2 /
            # var_j) on nearly constant columns.
            T2 = objective.inv_temperature**-2
            scale = np.sqrt(var + objective.n_classes * T2 * objective.l2)
            # Columns constant up to rounding (scikit-learn's StandardScaler
            # test) carry no scale information.
            n, eps = objective.n_samples, np.finfo(np.float64).eps
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            scale[constant | (scale == 0)] = 1.0
            # Data already about standardised: keep the optimiser's path that
            # of scikit-learn's (same iterates on the same problem) rather
            # than trade it for a near-identity change of variables.
            near_identity = np.all((scale >= 0.5) & (scale <= 2.0)) and np.all(
                np.abs(mean) <= 0.5 * scale
            )
            if not near_identity:
                self.scale = scale
                self.mean = mean if objective.fit_intercept else None
        self._last_u = None
        self._last_grad_max = None
        self.n_evaluations = 0
        self.factor = 1.0

    def set_factor(self, factor):
        """Multiply the objective the optimiser sees (not its minimiser)."""
        self.factor = float(factor)
        self._last_u = None

    def to_w(self, u):
        """Original parameters ``(W^T, b)`` (flat) of standardised ones."""
        if self.scale is not None:
            V, c = unpack(u, self.n_features, self.n_columns)
            w = np.empty_like(u)
            Wt, b = unpack(w, self.n_features, self.n_columns)
            np.divide(V, self.scale[:, None], out=Wt)
            if c is not None:
                b[:] = c - self.mean @ Wt if self.mean is not None else c
            u = w
        if self.basis is not None:
            # Each row (a feature's or the intercept's) times the basis.
            # Halving is exact: the pair's difference is the row itself.
            return (u[:, None] * self.basis).ravel()
        return u

    def to_u(self, w):
        """Standardised parameters of original ones (inverse of :meth:`to_w`).

        For two classes, ``w`` is first taken to its logit ``w_1 - w_0``,
        which maps back to the pair summing to zero with the same scores up
        to a shift (the same probabilities).
        """
        w = np.asarray(w, dtype=np.float64)
        if self.basis is not None:
            pairs = w.reshape(-1, 2)
            w = pairs[:, 1] - pairs[:, 0]
        if self.scale is None:
            return np.array(w)
        Wt, b = unpack(w, self.n_features, self.n_columns)
        u = np.empty(w.shape)
        V, c = unpack(u, self.n_features, self.n_columns)
        np.multiply(Wt, self.scale[:, None], out=V)
        if b is not None:
            c[:] = b + self.mean @ Wt if self.mean is not None else b
        return u

    def pull_back(self, g):
        """``T^T g``: a gradient in ``w`` as a gradient in ``u``."""
        if self.basis is not None:
            g = g.reshape(-1, 2) @ self.basis
        if self.scale is None:
            return g
        gW, gb = unpack(g, self.n_features, self.n_columns)
        out = np.empty_like(g)
        gV, gc = unpack(out, self.n_features, self.n_columns)
        if self.mean is not None:
            np.subtract(gW, np.outer(self.mean, gb), out=gV)
            gV /= self.scale[:, None]
        else:
            np.divide(gW, self.scale[:, None], out=gV)
        if gb is not None:
            gc[:] = gb
        return out

    def loss_gradient(self, u):
        """Objective and its gradient in ``u``; remembers ``max|grad_w|``."""
        if self._last_u is not None and same_point(u, self._last_u):
            return self._last
        loss, g = self.objective.loss_gradient(self.to_w(u))
        self.n_evaluations += 1
        self._last_u = np.array(u)
        self._last_grad_max = float(np.abs(g).max()) if g.size else 0.0
        self.last_grad_w = g
        self.last_loss = loss
        if self.factor != 1.0:  # only Newton-CG's restarts scale
            loss, g = self.factor * loss, self.factor * g
        self._last = loss, self.pull_back(g)
        return self._last

    def coarsen_precision(self, max_bytes=None):
        """:meth:`LinearObjective.coarsen_precision`; forgets the cached pass."""
        coarsened = self.objective.coarsen_precision(max_bytes)
        if coarsened:
            self._last_u = None
        return coarsened

    @property
    def coarse(self):
        return self.objective.coarse

    def gradient_rounding(self, u):
        """:meth:`LinearObjective.gradient_rounding` at ``u``."""
        return self.objective.gradient_rounding(self.to_w(u))

    def refine_precision(self):
        """:meth:`LinearObjective.refine_precision`; forgets the cached pass."""
        refined = self.objective.refine_precision()
        if refined:
            self._last_u = None
        return refined

    @property
    def value_eps(self):
        """Relative rounding of one score: eps of the passes' score dtype."""
        return float(np.finfo(self.objective.score_dtype).eps)

    def project(self, w):
        """The feasible point nearest ``w``: ``w`` itself (no constraints)."""
        return w

    def hessp(self, u, p):
        """Hessian of the objective in ``u`` times ``p``."""
        # T is linear, so it maps directions exactly as it maps points.
        hv = self.objective.hessp(self.to_w(u), self.to_w(p))
        return self.pull_back(self.factor * hv)

    def grad_max(self, u):
        """``max|grad_w|`` at ``u`` (the stopping quantity), cached if known."""
        if self._last_u is None or not same_point(u, self._last_u):
            self.loss_gradient(u)
        return self._last_grad_max
