"""Sparse normalizers: sparsemax and 1.5-entmax with their Fenchel-Young losses.

Both are projections onto the simplex regularised by a strongly convex
:math:`\\Omega`, ``p = argmax_{p in simplex} <z, p> - Omega(p)``, so both are
shift invariant, monotone, and give exact zeros. Their natural loss is the
Fenchel-Young loss ``L(z; y) = Omega*(z) + Omega(y) - <z, y>`` (Blondel,
Martins & Niculae, 2020), which is convex in ``z``, non-negative, zero exactly
when ``p = y``, and has gradient ``p - y``. Its Hessian is the Jacobian of
``p``.

Both thresholds are found exactly from the sorted scores. Two facts keep the
sort-based formulas accurate for scores of any size: the scores are first
shifted so the row maximum is 0, and scores more than 2 below the maximum are
clipped to -2, since the threshold is never below ``max - 1`` (in the units
of each map) and such scores cannot be in the support.
"""

from ._base import Normalizer
from ._utils import (
    arange_like,
    as_like,
    as_scores,
    as_targets,
    gather,
    maximum,
    rowdot,
    sort_descending,
    sqrt,
)


def _sparsemax_parts(Z):
    """Shifted scores ``Z - max``, ``p = [Z - max - tau]_+`` and the namespace."""
    Z, xp = as_scores(Z)
    Zs = Z - xp.max(Z, axis=1, keepdims=True)
    X = maximum(Zs, -2.0, xp)
    srt = sort_descending(X, xp)
    cs = xp.cumulative_sum(srt, axis=1)
    k = arange_like(Z.shape[1], Z, xp)
    # Martins & Astudillo (2016), eq. (3): class k of the sorted order is in
    # the support iff 1 + k z_(k) > sum_{j <= k} z_(j); the support is a prefix.
    k_z = xp.count_nonzero(1 + k * srt > cs, axis=1)
    tau = (gather(cs, k_z, xp) - 1) / xp.astype(k_z, Z.dtype)[:, None]
    X -= tau
    X = maximum(X, 0.0, xp, inplace=True)
    return Z, Zs, X, xp


def _entmax15_parts(Z):
    """Shifted scores ``Z - max``, ``s = sqrt(p) = [(Z - max)/2 - tau]_+``, xp."""
    Z, xp = as_scores(Z)
    Zs = Z - xp.max(Z, axis=1, keepdims=True)
    X = maximum(Zs, -4.0, xp)
    X *= 0.5
    srt = sort_descending(X, xp)
    k = arange_like(Z.shape[1], Z, xp)
    # Peters, Niculae & Martins (2019), Algorithm 2: for the top-k sorted
    # half-scores, the threshold solving sum_{j<=k} (x_(j) - tau)^2 = 1 is
    # mean_k - sqrt((1 - k var_k) / k); the support is the largest k whose
    # threshold lies below x_(k).
    mean = xp.cumulative_sum(srt, axis=1)
    mean /= k
    delta = xp.cumulative_sum(srt * srt, axis=1)
    delta /= k
    # delta = (1 - k (mean_sq - mean^2)) / k = 1/k - mean_sq + mean^2.
    delta -= 1 / k
    delta = mean * mean - delta
    delta = maximum(delta, 0.0, xp, inplace=True)
    delta = sqrt(delta, xp, inplace=True)
    tau = mean - delta
    k_z = xp.count_nonzero(tau <= srt, axis=1)
    X -= gather(tau, k_z, xp)
    X = maximum(X, 0.0, xp, inplace=True)
    return Z, Zs, X, xp


class _FenchelYoung(Normalizer):
    """Shared methods of the sparse normalizers (convex, shift invariant)."""

    convex = True
    shift_invariant = True

    def decision(self, Z):
        """Return the scores: the map is monotone in each score.

        The log-probabilities would be ``-inf`` at the exact zeros, so the
        scores themselves are the decision values; their row-wise order is
        that of the probabilities.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_classes)
            The input, unchanged.
        """
        return Z


class Sparsemax(_FenchelYoung):
    r"""Sparsemax: the Euclidean projection of the scores onto the simplex.

    :math:`p = \operatorname{argmin}_{p \in \Delta} \lVert p - z \rVert^2
    = [z - \tau]_+` (Martins & Astudillo, 2016), with :math:`\tau` found
    exactly from the sorted scores. Trained by its Fenchel-Young loss.

    See Also
    --------
    Entmax15 : A smoother sparse map.
    Softmax : The dense canonical normalizer.

    Notes
    -----
    With :math:`\Omega(p) = (\lVert p \rVert^2 - 1)/2` on the simplex, the
    Fenchel-Young loss for a target row :math:`y` (summing to one) is

    .. math::

        L(z; y) = \Omega^*(z) + \Omega(y) - \langle z, y \rangle
        = \langle z, p - y \rangle
        + \tfrac12 \big(\lVert y \rVert^2 - \lVert p \rVert^2\big),

    for one-hot :math:`y` the sparsemax loss
    :math:`\tfrac12(1 - \lVert p \rVert^2) + \langle p, z \rangle - z_y`.
    It is convex, :math:`\ge 0`, zero iff :math:`p = y`, with gradient
    :math:`p - y` and Hessian the Jacobian of sparsemax,
    :math:`\operatorname{diag}(s) - s s^\top / |S|` with :math:`s` the
    indicator of the support :math:`S`.

    The log-loss is undefined (exact zeros), and :meth:`log_proba` is
    ``-inf`` there; :meth:`decision` returns the scores. On two classes,
    :math:`p_1 = \operatorname{clip}((z_1 - z_0 + 1)/2, 0, 1)`.

    **Temperature.** :math:`p(z/T)` is the uniform distribution in the
    limit :math:`T \to \infty` and, for a unique maximum, exactly one-hot on
    the argmax once :math:`T \le z_{(1)} - z_{(2)}`.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg.normalizers import Sparsemax
    >>> Sparsemax()(np.array([[-2.0, 0.0, 0.5], [0.0, 0.0, 0.0]]))
    array([[0.        , 0.25      , 0.75      ],
           [0.33333333, 0.33333333, 0.33333333]])
    >>> loss, grad = Sparsemax().loss_gradient(np.array([[0.0, 0.0, 1.0]]),
    ...                                        np.array([[-2.0, 0.0, 0.5]]))
    >>> loss, grad
    (array([0.0625]), array([[ 0.  ,  0.25, -0.25]]))
    """

    def __call__(self, Z):
        """Sparsemax probabilities ``[z - tau]_+``, row by row.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        P : ndarray of shape (n_samples, n_classes)
            Rows on the simplex, with exact zeros; ``Z``'s dtype.
        """
        return _sparsemax_parts(Z)[2]

    def loss_gradient(self, Y, Z):
        """Per-row Fenchel-Young (sparsemax) loss and its gradient ``p - y``.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_classes)
            Targets, rows summing to one.
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            ``<z, p - y> + (||y||^2 - ||p||^2) / 2``, non-negative.
        grad : ndarray of shape (n_samples, n_classes)
            ``p - y``.
        """
        Z, Zs, P, xp = _sparsemax_parts(Z)
        Y = as_targets(Y, Z, xp)
        half_gap = 0.5 * (rowdot(Y, Y, xp) - rowdot(P, P, xp))
        P -= Y
        # <z, p - y> is unchanged by the row shift because p - y sums to zero;
        # the shifted scores keep it accurate.
        loss = rowdot(Zs, P, xp) + half_gap
        return loss, P

    def hessp(self, Z, V, Y=None):
        """Product of the loss Hessian (sparsemax's Jacobian) with ``V``.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.
        V : ndarray of shape (n_samples, n_classes)
            Directions, one per row.
        Y : ignored
            Accepted for a uniform signature: this Hessian does not depend
            on the targets.

        Returns
        -------
        HV : ndarray of shape (n_samples, n_classes)
            ``s * v - s <s, v> / |S|`` per row, ``s`` the support indicator.
        """
        Z, _, P, xp = _sparsemax_parts(Z)
        s = xp.astype(P > 0, Z.dtype)
        V = as_like(V, Z, xp)
        HV = s * V
        HV -= s * (xp.sum(HV, axis=1) / xp.sum(s, axis=1))[:, None]
        return HV


class Entmax15(_FenchelYoung):
    r"""1.5-entmax: a sparse map between softmax and sparsemax.

    :math:`p_k = [z_k/2 - \tau]_+^2` with :math:`\tau` such that the row
    sums to one (Peters, Niculae & Martins, 2019, arXiv:1905.05702),
    computed exactly by their sort-based algorithm. Trained by its
    Fenchel-Young loss with the Tsallis 1.5-entropy.

    See Also
    --------
    Sparsemax : The sparser Euclidean projection.
    Softmax : The dense canonical normalizer.

    Notes
    -----
    1.5-entmax maximises :math:`\langle z, p\rangle - \Omega(p)` over the
    simplex with :math:`\Omega(p) = (\sum_k p_k^{3/2} - 1) / 0.75`, minus
    the Tsallis entropy of index 1.5. Its Fenchel-Young loss for a target
    row :math:`y` (summing to one) is

    .. math::

        L(z; y) = \langle z, p - y \rangle
        + \frac{\sum_k y_k^{3/2} - \sum_k p_k^{3/2}}{0.75},

    for one-hot :math:`y`: :math:`(1 - \sum_k p_k^{3/2})/0.75 + \langle p,
    z\rangle - z_y`. It is convex, :math:`\ge 0`, zero iff :math:`p = y`,
    with gradient :math:`p - y` and Hessian the Jacobian of 1.5-entmax,
    :math:`\operatorname{diag}(s) - s s^\top / \sum_k s_k` with
    :math:`s = \sqrt{p}`.

    Exact zeros make the log-loss undefined and :meth:`log_proba` ``-inf``
    there; :meth:`decision` returns the scores.

    **Temperature.** :math:`p(z/T)` tends to the uniform distribution as
    :math:`T \to \infty` and, for a unique maximum, is exactly one-hot on
    the argmax once :math:`T \le (z_{(1)} - z_{(2)})/2`.

    Examples
    --------
    >>> import numpy as np
    >>> from softreg.normalizers import Entmax15
    >>> Entmax15()(np.array([[-2.0, 0.0, 0.5]])).round(4)
    array([[0.   , 0.326, 0.674]])
    >>> loss, grad = Entmax15().loss_gradient(np.array([[0.0, 0.0, 1.0]]),
    ...                                       np.array([[-2.0, 0.0, 0.5]]))
    >>> grad.round(4)
    array([[ 0.   ,  0.326, -0.326]])
    """

    def __call__(self, Z):
        """1.5-entmax probabilities ``[z/2 - tau]_+^2``, row by row.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        P : ndarray of shape (n_samples, n_classes)
            Rows on the simplex, with exact zeros; ``Z``'s dtype.
        """
        S = _entmax15_parts(Z)[2]
        S *= S
        return S

    def loss_gradient(self, Y, Z):
        """Per-row Fenchel-Young (Tsallis 1.5) loss and its gradient ``p - y``.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_classes)
            Targets, rows summing to one.
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            ``<z, p - y> + (sum y^1.5 - sum p^1.5) / 0.75``, non-negative.
        grad : ndarray of shape (n_samples, n_classes)
            ``p - y``.
        """
        Z, Zs, S, xp = _entmax15_parts(Z)
        Y = as_targets(Y, Z, xp)
        P = S * S
        # sum p^1.5 = sum s^3 with s = sqrt(p) known exactly.
        tsallis = rowdot(Y, xp.sqrt(Y), xp) - rowdot(P, S, xp)
        P -= Y
        loss = rowdot(Zs, P, xp) + tsallis / 0.75
        return loss, P

    def hessp(self, Z, V, Y=None):
        """Product of the loss Hessian (1.5-entmax's Jacobian) with ``V``.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.
        V : ndarray of shape (n_samples, n_classes)
            Directions, one per row.
        Y : ignored
            Accepted for a uniform signature: this Hessian does not depend
            on the targets.

        Returns
        -------
        HV : ndarray of shape (n_samples, n_classes)
            ``s * v - s <s, v> / sum(s)`` per row, ``s = sqrt(p)``.
        """
        Z, _, S, xp = _entmax15_parts(Z)
        V = as_like(V, Z, xp)
        HV = S * V
        HV -= S * (xp.sum(HV, axis=1) / xp.sum(S, axis=1))[:, None]
        return HV
