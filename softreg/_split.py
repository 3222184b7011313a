"""The elastic-net and bounded problem as L-BFGS-B sees it: smooth, with boxes.

L-BFGS-B minimises smooth functions subject to bounds on the variables. The
L1 term is not smooth, but writing each coefficient as a difference of two
non-negative parts, ``w = p - n`` with ``p, n >= 0``, makes it linear:
``|w| = p + n`` at any point with ``p * n = 0``, which every minimiser has
(lowering both parts by ``min(p, n)`` keeps ``w`` and lowers ``p + n``). So

.. math::

    \\min_{W} f(W) + \\lambda \\lVert W\\rVert_1
    \\;=\\; \\min_{P, N \\ge 0} f(P - N) + \\lambda \\textstyle\\sum (P + N),

a smooth problem whose gradient is ``(g + lambda, -g + lambda)`` with ``g``
the gradient of ``f`` at ``P - N``. A coefficient that L-BFGS-B leaves with
both parts on their bound 0 is an exact zero. Box bounds ``l <= w <= u`` fold
into the parts' bounds: ``p`` in ``[max(l, 0), max(u, 0)]`` and ``n`` in
``[max(-u, 0), max(-l, 0)]``; without L1 no split is needed and the bounds go
on ``w`` itself.

All of this is done in the standardised variables of
:class:`~softreg._standardize.Standardized` (``W^T = V / sigma``, row-wise,
and ``b = c - mu W^T``): the map from ``V`` to ``W`` is a positive diagonal
scaling, so ``|W_jk| = |V_jk| / sigma_j`` (the L1 weight of ``V_jk`` is
``lambda / sigma_j``) and ``l <= W <= u`` is ``l sigma <= V <= u sigma``; the
intercept ``c`` stays free. The stopping test is done in the original
variables: the largest distance of 0 from the subdifferential of the bounded
problem, :meth:`softreg._penalty.ElasticNet.kkt_violation` (the projected
gradient), which is ``max |grad|`` for a plain L2 problem.
"""

import numpy as np
from scipy.optimize import Bounds

from ._objective import unpack


class BoundedView:
    """A :class:`Standardized` problem with L1 split and bounds on the variables.

    Offers what :func:`softreg._solvers._run` uses (``to_u``, ``to_w``,
    ``project``, ``loss_gradient``, ``grad_max``, ``bounds``, ``factor``,
    ``set_factor``, ``last_loss``, and the precision switches
    ``coarsen_precision``, ``coarse``, ``gradient_rounding``,
    ``refine_precision``) over variables ``x = (P, N, c)`` (L1) or
    ``x = (V, c)`` (bounds only).

    Parameters
    ----------
    problem : Standardized
    penalty : ElasticNet
        Bound to its strength (the objective's ``penalty``).
    """

    hessp = None
    #: What :meth:`grad_max` measures, for messages.
    measure = "optimality violation (projected gradient entry)"

    def __init__(self, problem, penalty):
        self.problem = problem
        self.penalty = penalty
        p, K = problem.n_features, problem.n_classes
        self.n_w = p * K
        scale = problem.scale if problem.scale is not None else np.ones(p)
        n_free = problem.objective.n_params - self.n_w
        lo, hi, self.l1_weight = penalty.variable_bounds(scale, K, n_free)
        self.split = self.l1_weight is not None
        full = np.full((p, K), np.inf)
        self._lower_t = penalty.lower_t if penalty.has_bounds else -full
        self._upper_t = penalty.upper_t if penalty.has_bounds else full
        self.bounds = Bounds(lo, hi)
        self.last_loss = None

    @property
    def factor(self):
        return self.problem.factor

    def set_factor(self, factor):
        self.problem.set_factor(factor)

    @property
    def n_evaluations(self):
        return self.problem.n_evaluations

    def _u(self, x):
        if not self.split:
            return x
        m = self.n_w
        return np.concatenate([x[:m] - x[m : 2 * m], x[2 * m :]])

    def _clip_w(self, w):
        Wt, _ = unpack(w, self.problem.n_features, self.problem.n_classes)
        # V / sigma at a V bound is the W bound only up to rounding: clip,
        # so that the bounds hold exactly (a no-op on the exact values).
        np.clip(Wt, self._lower_t, self._upper_t, out=Wt)
        return w

    def to_w(self, x):
        """Original parameters of the solver's variables, exactly feasible."""
        return self._clip_w(self.problem.to_w(self._u(x)))

    def to_u(self, w):
        """Feasible solver variables of original parameters."""
        u = self.problem.to_u(self._clip_w(np.array(w, dtype=np.float64)))
        if self.split:
            m = self.n_w
            V = u[:m]
            u = np.concatenate([np.maximum(V, 0), np.maximum(-V, 0), u[m:]])
        return np.clip(u, self.bounds.lb, self.bounds.ub)

    def project(self, w):
        """The nearest feasible point (coefficients clipped to the bounds)."""
        return self._clip_w(np.array(w, dtype=np.float64))

    def loss_gradient(self, x):
        """Smooth objective in ``x`` and its gradient (L1 term linear)."""
        loss, g = self.problem.loss_gradient(self._u(x))
        l1 = 0.0
        if self.split:
            m = self.n_w
            gV = g[:m]
            weight = self.factor * self.l1_weight
            l1 = float(self.l1_weight @ (x[:m] + x[m : 2 * m]))
            loss = loss + self.factor * l1
            g = np.concatenate([gV + weight, weight - gV, g[m:]])
        self.last_loss = self.problem.last_loss + l1
        return loss, g

    def refine_precision(self):
        return self.problem.refine_precision()

    def coarsen_precision(self, max_bytes=None):
        return self.problem.coarsen_precision(max_bytes)

    @property
    def coarse(self):
        return self.problem.coarse

    def gradient_rounding(self, x):
        return self.problem.gradient_rounding(self._u(x))

    @property
    def value_eps(self):
        return self.problem.value_eps

    def grad_max(self, x):
        """Largest KKT violation of the original problem at ``x``."""
        u = self._u(x)
        self.problem.grad_max(u)  # evaluates (or reuses) the gradient at u
        g = self.problem.last_grad_w
        self.loss_gradient(x)  # cached in the problem: sets last_loss at x
        w = self.to_w(x)
        Wt, _ = unpack(w, self.problem.n_features, self.problem.n_classes)
        Gt, gb = unpack(g, self.problem.n_features, self.problem.n_classes)
        viol = self.penalty.kkt_violation(Wt, Gt)
        out = float(viol.max()) if viol.size else 0.0
        if gb is not None and gb.size:
            out = max(out, float(np.abs(gb).max()))
        return out


def bounded(problem, penalty):
    """``problem`` itself, or its :class:`BoundedView` if ``penalty`` needs one."""
    return BoundedView(problem, penalty) if penalty.needs_bounds else problem
