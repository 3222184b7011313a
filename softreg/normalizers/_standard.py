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
    range. Trained by the negative log-likelihood.

    Parameters
    ----------
    floor : float, default=0.01
        Smallest shifted score, as a fraction of the row's range
        :math:`r = \max z - \min z`. It bounds every probability below by
        ``floor / (K (1 + floor))`` and hence the loss above. Must be
        positive.

    See Also
    --------
    Softmax : What this baseline shows the need for.

    Notes
    -----
    **The rule.** With :math:`m = \min_k z_k`, :math:`r = \max_k z_k - m`
    and :math:`\delta` = ``floor``,

    .. math::

        q = z + c\,\mathbf{1}, \qquad c = \max(0,\ \delta r - m), \qquad
        p = q / \textstyle\sum_k q_k .

    So :math:`\min_k q_k = \max(m, \delta r) > 0`. Why this rule:

    * it *is* standard normalization wherever that is already defined
      and safe (:math:`m \ge \delta r`): ``[1, 2]`` and ``[10, 20]`` both
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
      ``[0.04, 1.04, 3.04, 4.04]``), continuous in :math:`z` except at
      constant rows, and piecewise smooth: :math:`c` is piecewise linear,
      with kinks only where :math:`m = \delta r` or at ties for the
      minimum or maximum, a set of measure zero;
    * constant rows (:math:`r = 0`), where no scale-invariant map can be
      continuous, give the uniform distribution, with zero gradient when
      they are not positive.

    **Loss.** With :math:`Q = \sum_k q_k`, the loss for a target row
    :math:`y` is :math:`\log Q - \sum_k y_k \log q_k`. Its gradient w.r.t.
    :math:`q` is :math:`g_q = \mathbf{1}/Q - y / q`; on shifted rows the
    chain rule through :math:`c = \delta z_{\max} - (1 + \delta) z_{\min}`
    adds :math:`(\mathbf{1}^\top g_q)(\delta e_{\max} - (1 + \delta)
    e_{\min})`. The Hessian (exact wherever the map is smooth) is
    :math:`J^\top (\operatorname{diag}(y / q^2) - \mathbf{1}\mathbf{1}^\top
    / Q^2) J` with :math:`J = I + \mathbf{1} \nabla c^\top`; it depends on
    :math:`y`, so :meth:`hessp` takes ``Y``. Scale invariance makes the
    loss homogeneous of degree 0, so the gradient is orthogonal to
    :math:`z`.

    **Consequences for fitting.** A linear model's data term is unchanged
    when :math:`(W, b)` is scaled by :math:`\lambda > 0`, while an L2
    penalty decreases: the penalised problem has no minimiser (its infimum
    is approached as :math:`\lambda \to 0`), the scale of ``coef_`` is
    arbitrary, and the solver may stop on ``max_iter`` (it does on the
    digits data). The loss is also non-convex (``convex`` is False, fits
    start from a small random point). Probabilities stay flat (mean top
    probability 0.34 on digits, against 0.95 for the softmax): that is the
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
    array([[0.0049, 0.1275, 0.3725, 0.4951]])
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
        # p is scale invariant, so dividing each row by its largest |score|
        # changes nothing but keeps every quantity below of order one.
        A = np.abs(Z).max(axis=1, keepdims=True)
        A[A == 0] = 1
        Zh = Z / A
        i_max = Zh.argmax(axis=1)
        i_min = Zh.argmin(axis=1)
        mn = Zh[rows, i_min]
        r = Zh[rows, i_max] - mn
        c = np.maximum(floor * r - mn, 0)
        Q = Zh + c[:, None]
        flat = (r == 0) & (mn <= 0)
        Q[flat] = 1
        shifted = (c > 0) & ~flat
        return Z, A, Q, rows, i_max, i_min, shifted, flat, float(floor)

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

        ``J^T g = g + (1^T g) grad c``, with ``grad c`` nonzero on shifted
        rows only.
        """
        _, _, _, rows, i_max, i_min, shifted, _, floor = parts
        gsum = np.where(shifted, G.sum(axis=1), 0)
        G[rows, i_max] += floor * gsum
        G[rows, i_min] -= (1 + floor) * gsum
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
        Z, A, Q, _, _, _, _, flat, _ = parts
        Y = as_targets(Y, Z)
        Qs = Q.sum(axis=1)
        loss = np.log(Qs) - rowdot(Y, np.log(Q))
        G = Y / Q
        np.subtract((1 / Qs)[:, None], G, out=G)
        G = self._chain(G, parts)
        G[flat] = 0
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
        Z, A, Q, rows, i_max, i_min, shifted, flat, floor = parts
        Y = as_targets(Y, Z)
        V = np.asarray(V, dtype=Z.dtype)
        # J v = v + <grad c, v> 1.
        cv = np.where(shifted, floor * V[rows, i_max] - (1 + floor) * V[rows, i_min], 0)
        U = V + cv[:, None]
        Qs = Q.sum(axis=1)
        W = Y * U / (Q * Q)
        W -= (U.sum(axis=1) / (Qs * Qs))[:, None]
        W = self._chain(W, parts)
        W[flat] = 0
        W /= A
        W /= A
        return W
