"""Penalties on the coefficients: L2, elastic net and box bounds, as data.

The estimator's objective is

.. math::

    f(W, b) = \\frac{1}{S} \\sum_i s_i \\ell(y_i, z_i)
        + \\frac{(1 - r)/2\\, \\lVert W\\rVert_F^2 + r \\lVert W\\rVert_1}{C S},
    \\qquad l \\le W \\le u,

scikit-learn 1.9's elastic net (``l1_ratio = r``; ``r = 0`` is the L2 penalty
of ``LogisticRegression(solver="lbfgs")``), with the intercepts free. An
:class:`ElasticNet` holds ``r`` and the bounds; :meth:`ElasticNet.bind` fixes
the strength ``1 / (C S)`` once the objective knows ``S``. The bound penalty
then offers, in the objective's ``W^T`` layout (``(n_features, n_classes)``):

* the smooth (quadratic) part: :meth:`~ElasticNet.smooth_value`,
  :meth:`~ElasticNet.add_gradient` and :meth:`~ElasticNet.hessp`, which
  :class:`~softreg._objective.LinearObjective` adds to its data term;
* the non-smooth part and the constraints: the weight ``l1`` of
  ``||W||_1`` and the bounds ``lower_t``/``upper_t``, and from them
  :meth:`~ElasticNet.variable_bounds`, the bounds L-BFGS-B needs on the
  (split, standardised) variables of the bounded view (:mod:`softreg._split`);
* the optimality test of the whole problem in the original variables,
  :meth:`~ElasticNet.kkt_violation`.

A solver that cannot handle bounds (the Newton solvers) checks
:attr:`~ElasticNet.needs_bounds` and refuses the penalty.
"""

import numpy as np


def check_bounds(bounds, n_classes, n_features):
    """Validate ``bounds=(lower, upper)`` against ``coef_``'s shape.

    Parameters
    ----------
    bounds : None or tuple of two (float or array-like)
        Each broadcastable to ``(n_classes, n_features)``; ``-np.inf`` and
        ``np.inf`` leave an entry free.
    n_classes, n_features : int

    Returns
    -------
    lower, upper : ndarray of shape (n_classes, n_features) or None
        Float64 arrays, or ``(None, None)`` when there is no constraint.

    Raises
    ------
    ValueError
        Not a pair, NaN, not broadcastable, or infeasible (``lower > upper``,
        ``lower = inf`` or ``upper = -inf`` anywhere).

    Examples
    --------
    >>> from softreg._penalty import check_bounds
    >>> lower, upper = check_bounds((0, [1.0, 2.0]), 3, 2)
    >>> lower.shape, upper[2].tolist()
    ((3, 2), [1.0, 2.0])
    """
    if bounds is None:
        return None, None
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(
            "bounds must be None or a pair (lower, upper) of scalars or arrays "
            f"broadcastable to coef_'s shape (n_classes, n_features); got {bounds!r}."
        )
    shape = (n_classes, n_features)
    out = []
    for name, value in zip(("lower", "upper"), bounds, strict=True):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bounds: {name} is not numeric: {value!r}") from exc
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise ValueError(
                f"bounds: {name} has shape {arr.shape}, which does not broadcast "
                f"to coef_'s shape (n_classes, n_features) = {shape}."
            ) from None
        if np.isnan(arr).any():
            raise ValueError(f"bounds: {name} contains NaN; use -inf/inf for free.")
        out.append(np.array(arr))
    lower, upper = out
    bad = (lower > upper) | (lower == np.inf) | (upper == -np.inf)
    if bad.any():
        k, j = np.argwhere(bad)[0]
        raise ValueError(
            f"bounds are infeasible: lower > upper (or an infinite bound on the "
            f"wrong side) at {int(bad.sum())} entries, first at coef_[{k}, {j}]: "
            f"lower={lower[k, j]}, upper={upper[k, j]}."
        )
    if np.isneginf(lower).all() and np.isposinf(upper).all():
        return None, None
    return lower, upper


class ElasticNet:
    """The elastic-net penalty with optional box bounds on ``W``.

    Parameters
    ----------
    l1_ratio : float, default=0.0
        Mixing ``r`` in ``[0, 1]``: 0 is the L2 penalty, 1 the lasso.
    lower, upper : ndarray of shape (n_classes, n_features), default=None
        Box bounds on ``coef_`` (as returned by :func:`check_bounds`); None
        for no bound.

    Attributes
    ----------
    l2, l1 : float
        Strengths ``(1 - r) / (C S)`` and ``r / (C S)`` once bound (0 before,
        and for ``C = inf``).

    Examples
    --------
    >>> import numpy as np
    >>> from softreg._penalty import ElasticNet
    >>> pen = ElasticNet(l1_ratio=0.5).bind(C=1.0, sw_sum=4.0)
    >>> pen.l2, pen.l1
    (0.125, 0.125)
    >>> float(pen.value(np.array([[2.0, -1.0]])))  # 0.125 * (5 / 2 + 3)
    0.6875
    """

    def __init__(self, l1_ratio=0.0, lower=None, upper=None):
        self.l1_ratio = float(l1_ratio)
        self.lower = lower
        self.upper = upper
        self.l2 = 0.0
        self.l1 = 0.0

    def bind(self, C, sw_sum):
        """A copy with the strength ``1 / (C S)`` fixed (0 when ``C = inf``)."""
        out = ElasticNet(self.l1_ratio, self.lower, self.upper)
        strength = 0.0 if np.isinf(C) else 1.0 / (C * sw_sum)
        out.l2 = (1.0 - self.l1_ratio) * strength
        out.l1 = self.l1_ratio * strength
        return out

    @property
    def has_bounds(self):
        """Whether some coefficient is constrained by ``lower``/``upper``."""
        return self.lower is not None

    @property
    def needs_bounds(self):
        """Whether the solver must handle variable bounds (L1 or a box)."""
        return self.l1_ratio > 0 or self.has_bounds

    @property
    def centred(self):
        """Whether the optimum has columns of ``W`` summing to zero over classes.

        For a shift-invariant normalizer the data term is unchanged by
        ``W + 1 a^T``, so the optimum is the shift with the smallest penalty:
        the centred one for the L2 penalty alone. The L1 part (whose best
        shift is a column median) and bounds break that.
        """
        return not self.needs_bounds

    @property
    def lower_t(self):
        """Lower bounds in the ``W^T`` layout, or None."""
        return None if self.lower is None else self.lower.T

    @property
    def upper_t(self):
        """Upper bounds in the ``W^T`` layout, or None."""
        return None if self.upper is None else self.upper.T

    def variable_bounds(self, scale, n_classes, n_free):
        """The bounds L-BFGS-B needs, on the variables it sees.

        Those are ``V = W^T * scale`` (row-wise: the standardised
        coefficients; ``scale`` all ones for none) followed by ``n_free``
        unbounded ones (the intercepts). With an L1 part ``V`` is split into
        ``P - N`` with ``P, N >= 0`` (see :mod:`softreg._split`), and
        ``l <= W <= u`` becomes ``P in [max(l s, 0), max(u s, 0)]``,
        ``N in [max(-u s, 0), max(-l s, 0)]``; without it, ``l s <= V <= u s``.

        Parameters
        ----------
        scale : ndarray of shape (n_features,)
            Positive.
        n_classes, n_free : int

        Returns
        -------
        lower, upper : ndarray
            Flat bounds on ``(P, N, free)`` when split, else ``(V, free)``.
        l1_weight : ndarray of shape (n_features * n_classes,) or None
            Weight of ``P + N`` in the objective (``l1 / scale``) when
            split, else None.

        Examples
        --------
        >>> import numpy as np
        >>> from softreg._penalty import ElasticNet
        >>> pen = ElasticNet(1.0, np.zeros((1, 2)), np.ones((1, 2))).bind(1.0, 1.0)
        >>> lower, upper, l1_weight = pen.variable_bounds(np.array([1.0, 2.0]), 1, 0)
        >>> upper.tolist(), l1_weight.tolist()  # (P, N): N is fixed at 0
        ([1.0, 2.0, 0.0, 0.0], [1.0, 0.5])
        """
        s = np.asarray(scale, dtype=np.float64)[:, None]
        shape = (s.shape[0], n_classes)
        lv = (self.lower_t * s if self.has_bounds else np.full(shape, -np.inf)).ravel()
        uv = (self.upper_t * s if self.has_bounds else np.full(shape, np.inf)).ravel()
        free = np.full(n_free, np.inf)
        if not self.l1:
            return np.concatenate([lv, -free]), np.concatenate([uv, free]), None
        lower = [np.maximum(lv, 0), np.maximum(-uv, 0), -free]
        upper = [np.maximum(uv, 0), np.maximum(-lv, 0), free]
        l1_weight = np.broadcast_to(self.l1 / s, shape).ravel()
        return np.concatenate(lower), np.concatenate(upper), l1_weight

    def cast(self, coef, dtype):
        """``coef`` (``(n_classes, n_features)``) in ``dtype``, still in bounds.

        Rounding to float32 can step a coefficient at a bound just outside
        it; such entries are moved one ulp back inside.
        """
        out = np.asarray(coef).astype(dtype)
        if self.has_bounds:
            for bound, inward in ((self.lower, np.inf), (self.upper, -np.inf)):
                outside = (out < bound) if inward > 0 else (out > bound)
                out[outside] = np.nextafter(out[outside], dtype.type(inward))
        return out

    def smooth_value(self, Wt):
        """``l2 / 2 * ||W||_F^2``."""
        return 0.5 * self.l2 * float(np.vdot(Wt, Wt)) if self.l2 else 0.0

    def value(self, Wt):
        """The whole penalty ``l2 / 2 ||W||_F^2 + l1 ||W||_1``."""
        l1 = self.l1 * float(np.abs(Wt).sum()) if self.l1 else 0.0
        return self.smooth_value(Wt) + l1

    def add_gradient(self, Wt, out):
        """Add the smooth part's gradient ``l2 * W^T`` to ``out``."""
        if self.l2:
            out += self.l2 * Wt
        return out

    def hessp(self, Vt, out):
        """Add the smooth part's Hessian times ``V^T`` (``l2 * V^T``) to ``out``."""
        return self.add_gradient(Vt, out)

    def kkt_violation(self, Wt, Gt):
        """Distance of 0 from the subdifferential at a feasible ``W``, per entry.

        With ``G`` the gradient of the smooth part (data and L2), the
        optimality condition of coordinate ``w`` is ``0 in G + l1 d|w| + N(w)``
        where ``d|w|`` is ``sign(w)`` (``[-1, 1]`` at 0) and ``N`` the normal
        cone of the box: ``(-inf, 0]`` at the lower bound, ``[0, inf)`` at
        the upper one. Without L1 and bounds this is ``|G|``, scikit-learn's
        stopping quantity; with bounds alone it is the projected gradient.

        Parameters
        ----------
        Wt, Gt : ndarray of shape (n_features, n_classes)

        Returns
        -------
        violation : ndarray of shape (n_features, n_classes)
        """
        lam = self.l1
        lo = Gt + np.where(Wt > 0, lam, -lam)
        hi = Gt + np.where(Wt < 0, -lam, lam)
        if self.has_bounds:
            lo = np.where(Wt <= self.lower_t, -np.inf, lo)
            hi = np.where(Wt >= self.upper_t, np.inf, hi)
        return np.maximum(np.maximum(lo, -hi), 0.0)
