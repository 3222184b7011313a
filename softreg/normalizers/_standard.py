"""Standard normalization: divide the scores by their sum, made safe."""

from numbers import Real

import numpy as np

from ._base import Normalizer
from ._utils import as_scores, as_targets, rowdot


class Standard(Normalizer):
    r"""Standard normalization :math:`p = z / \sum_k z_k`, safe for any scores.

    The "why not just divide by the sum?" baseline that the softmax is
    usually compared with. Rows whose scores are all comfortably positive
    are divided by their sum exactly; other rows are first shifted up just
    enough that their smallest score becomes ``floor`` times the row's
    largest absolute score. Trained by the negative log-likelihood.

    Parameters
    ----------
    floor : float, default=0.01
        Smallest shifted score, as a fraction of the row's largest absolute
        score :math:`s = \max_k |z_k|`. It bounds every probability below by
        ``floor / (K (2 + floor))`` and hence the loss above. Must be
        positive.

    See Also
    --------
    Softmax : What this baseline shows the need for.

    Notes
    -----
    **The rule.** With :math:`m = \min_k z_k`, :math:`s = \max_k |z_k|`
    and :math:`\delta` = ``floor``,

    .. math::

        q = z + c\,\mathbf{1}, \qquad c = \max(0,\ \delta s - m), \qquad
        p = q / \textstyle\sum_k q_k .

    So :math:`\min_k q_k = \max(m, \delta s) > 0` for :math:`z \ne 0`. Why
    this rule:

    * it *is* standard normalization wherever that is already defined
      and safe (:math:`m \ge \delta s`): ``[1, 2]`` and ``[10, 20]`` both
      give exactly ``[1/3, 2/3]``;
    * it keeps the property that makes standard normalization the
      instructive baseline, **scale invariance**: :math:`c` scales with
      :math:`z`, so :math:`p(\lambda z) = p(z)` for every
      :math:`\lambda > 0`. Scores cannot express confidence by growing, as
      they do for the softmax (``[1, 2]`` vs ``[10, 20]``: 0.73 vs 0.99995);
      a shift to a fixed positive floor (or a softplus) would break exactly
      this and blur the comparison;
    * it is defined for any row, including negative scores and rows that
      sum to zero (``[-2, -1, 1, 2]`` is shifted to
      ``[0.02, 1.02, 3.02, 4.02]``), continuous everywhere except at
      :math:`z = 0`, where no scale-invariant map can be continuous (it
      gives the uniform distribution there, with zero gradient), and
      piecewise smooth: :math:`c` is piecewise linear, with kinks only where
      :math:`m = \delta s` or at ties for the minimum or the largest
      magnitude, a set of measure zero;
    * the floor is relative to :math:`s`, not to the range
      :math:`r = \max_k z_k - m`: with :math:`\delta r` two shifted scores
      always become :math:`(\delta r, (1 + \delta) r)`, so on two classes
      the probabilities, the loss and its gradient would be constant over
      most of the score space and a fit would stall there. With
      :math:`\delta s` they still vary with the ratio of the scores.

    **Loss.** With :math:`Q = \sum_k q_k`, the loss for a target row
    :math:`y` is :math:`\log Q - \sum_k y_k \log q_k`. Its gradient w.r.t.
    :math:`q` is :math:`g_q = \mathbf{1}/Q - y / q`; on shifted rows the
    chain rule through :math:`c = \delta \operatorname{sign}(z_a) z_a -
    z_{\min}` (:math:`a` the entry of largest magnitude) adds
    :math:`(\mathbf{1}^\top g_q)(\delta \operatorname{sign}(z_a) e_a -
    e_{\min})`. The Hessian (exact wherever the map is smooth) is
    :math:`J^\top (\operatorname{diag}(y / q^2) - \mathbf{1}\mathbf{1}^\top
    / Q^2) J` with :math:`J = I + \mathbf{1} \nabla c^\top`; it depends on
    :math:`y`, so :meth:`hessp` takes ``Y``. Scale invariance makes the
    loss homogeneous of degree 0, so the gradient is orthogonal to
    :math:`z`. The map preserves the order of the scores within a row, but
    through the shift, raising one score can lower another class's
    probability by more than the softmax would, or leave it unchanged.

    **Consequences for fitting.** A linear model's data term is unchanged
    when :math:`(W, b)` is scaled by :math:`\lambda > 0`, while an L2
    penalty decreases: the penalised problem has no minimiser (its infimum
    is approached as :math:`\lambda \to 0`), the scale of ``coef_`` is
    arbitrary, and the solver may stop on ``max_iter`` (it does on the
    digits data). The loss is also non-convex (``convex`` is False, fits
    start from a small random point). Probabilities stay flat (mean top
    probability 0.35 on digits, against 0.95 for the softmax): that is the
    point of the baseline, not a defect to fix.

    **Temperature.** :math:`p(z/T) = p(z)` for every :math:`T > 0`: the
    temperature has no effect at all, at either limit.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg.normalizers import Standard
    >>> Standard()(np.array([[1.0, 2.0], [10.0, 20.0]]))
    array([[0.33333333, 0.66666667],
           [0.33333333, 0.66666667]])
    >>> Standard()(np.array([[-2.0, -1.0, 1.0, 2.0]])).round(4)
    array([[0.0025, 0.1262, 0.3738, 0.4975]])
    """

    convex = False

    def __init__(self, floor=0.01):
        self.floor = floor

    def _parts(self, Z):
        Z = as_scores(Z)
        floor = self.floor
        if not (isinstance(floor, Real) and 0 < floor < float("inf")):
            raise ValueError(
                f"Standard(floor={floor!r}): floor must be a positive finite number."
            )
        rows = np.arange(Z.shape[0])
        # p is scale invariant, so dividing each row by its largest |score| s
        # changes nothing; afterwards s = 1 and every quantity is of order one.
        absZ = np.abs(Z)
        i_abs = absZ.argmax(axis=1)
        A = absZ[rows, i_abs][:, None]
        zero = A[:, 0] == 0
        A[zero] = 1
        Zh = Z / A
        sign = np.sign(Zh[rows, i_abs])
        i_min = Zh.argmin(axis=1)
        c = np.maximum(floor - Zh[rows, i_min], 0)
        Q = Zh + c[:, None]
        Q[zero] = 1
        shifted = (c > 0) & ~zero
        return Z, A, Q, rows, i_abs, sign, i_min, shifted, zero, float(floor)

    def __call__(self, Z):
        """Probabilities ``q / sum(q)`` of the shifted scores, row by row.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        P : ndarray of shape (n_samples, n_classes)
            Rows on the simplex, every entry positive; ``Z``'s dtype.
        """
        Q = self._parts(Z)[2]
        Q /= Q.sum(axis=1, keepdims=True)
        return Q

    def _chain(self, G, parts):
        """Pull a per-row vector from ``q``-space back to ``z``-space.

        ``J^T g = g + (1^T g) grad c`` with ``grad c = floor * sign(z_a) e_a -
        e_min`` on shifted rows (``a`` the entry of largest magnitude) and 0
        elsewhere. The two updates are separate statements because ``a`` and
        the minimum can be the same entry.
        """
        _, _, _, rows, i_abs, sign, i_min, shifted, _, floor = parts
        gsum = np.where(shifted, G.sum(axis=1), 0)
        G[rows, i_abs] += floor * sign * gsum
        G[rows, i_min] -= gsum
        return G

    def loss_gradient(self, Y, Z):
        """Per-row negative log-likelihood and its gradient w.r.t. the scores.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_classes)
            Targets, rows summing to one.
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            ``log(sum q) - sum_k y_k log q_k``.
        grad : ndarray of shape (n_samples, n_classes)
            Exact wherever the map is smooth; zero on constant
            non-positive rows.
        """
        parts = self._parts(Z)
        Z, A, Q, *_ = parts
        zero = parts[8]
        Y = as_targets(Y, Z)
        Qs = Q.sum(axis=1)
        loss = np.log(Qs) - rowdot(Y, np.log(Q))
        G = Y / Q
        np.subtract((1 / Qs)[:, None], G, out=G)
        G = self._chain(G, parts)
        G[zero] = 0
        # Homogeneous of degree 0: the gradient at z is the one at z/A over A.
        G /= A
        return loss, G

    def hessp(self, Z, V, Y=None):
        """Product of each row's loss Hessian with ``V``.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.
        V : ndarray of shape (n_samples, n_classes)
            Directions, one per row.
        Y : ndarray of shape (n_samples, n_classes)
            Targets, rows summing to one (the Hessian depends on them).

        Returns
        -------
        HV : ndarray of shape (n_samples, n_classes)
            ``J^T (diag(y / q^2) - 1 1^T / Q^2) J v`` per row.
        """
        if Y is None:
            raise ValueError(
                "Standard.hessp needs the targets Y: the Hessian of its "
                "log-loss depends on them. Call hessp(Z, V, Y=Y)."
            )
        parts = self._parts(Z)
        Z, A, Q, rows, i_abs, sign, i_min, shifted, zero, floor = parts
        Y = as_targets(Y, Z)
        V = np.asarray(V, dtype=Z.dtype)
        # J v = v + <grad c, v> 1.
        cv = floor * sign * V[rows, i_abs] - V[rows, i_min]
        cv = np.where(shifted, cv, 0)
        U = V + cv[:, None]
        Qs = Q.sum(axis=1)
        W = Y * U / (Q * Q)
        W -= (U.sum(axis=1) / (Qs * Qs))[:, None]
        W = self._chain(W, parts)
        W[zero] = 0
        W /= A
        W /= A
        return W
