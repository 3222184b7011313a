"""Shared core of the normalizers that divide a positive quadratic by its sum.

Taylor and spherical softmax are both ``p_k = (u_k^2 + c) / sum_j (u_j^2 + c)``
with ``u = z + shift``: Taylor has ``shift = 1, c = 1`` (since
``1 + z + z^2/2 = ((z + 1)^2 + 1) / 2``, and the factor 1/2 cancels), the
spherical softmax ``shift = 0, c = eps``. One implementation of the negative
log-likelihood, its gradient and its Hessian serves both.
"""

import math

from ._base import Normalizer
from ._utils import as_like, as_scores, as_targets, divide, rowdot, sqrt


class _QuadraticRatio(Normalizer):
    """``p_k ∝ u_k^2 + c`` with ``u = z + shift``, trained by log-loss.

    Subclasses define :meth:`_shift_and_floor` returning ``(shift, c)``.

    With ``q_k = u_k^2 + c`` and ``Q = sum_k q_k`` the per-row loss is
    ``log Q - sum_k y_k log q_k`` (rows of ``Y`` sum to one), its gradient
    ``2 u / Q - 2 y u / q`` and its Hessian
    ``diag(2 / Q + 2 y (u^2 - c) / q^2) - 4 u u^T / Q^2``.

    Everything is computed from ``h = sqrt(q)`` (by ``hypot`` when ``u^2``
    would overflow) divided by the row maximum ``m`` of ``h``: the ratios
    ``h / m`` lie in ``(0, 1]`` and ``S = sum (h / m)^2`` in ``[1, K]``, so
    any finite score gives finite results.
    """

    convex = False

    def _shift_and_floor(self):
        raise NotImplementedError

    def _terms(self, Z):
        Z, xp = as_scores(Z)
        shift, c = self._shift_and_floor()
        U = Z + shift if shift else Z
        root_c = math.sqrt(c)
        # sqrt(u^2 + c) is ten times faster than hypot and exact enough; hypot
        # is only needed where u^2 would overflow.
        safe = math.sqrt(float(xp.finfo(Z.dtype).max)) / 4
        if root_c < safe and (0 in U.shape or float(xp.max(xp.abs(U))) < safe):
            H = U * U
            H += c
            H = sqrt(H, xp, inplace=True)
        else:
            H = xp.hypot(U, xp.full_like(U, root_c))
        M = xp.max(H, axis=1, keepdims=True)
        R = H / M
        S = rowdot(R, R, xp)[:, None]
        return Z, U, H, M, R, S, xp

    def __call__(self, Z):
        """Probabilities ``(u_k^2 + c) / sum_j (u_j^2 + c)``, row by row.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        P : ndarray of shape (n_samples, n_classes)
            Rows on the simplex, every entry positive; ``Z``'s dtype.
        """
        R, S = self._terms(Z)[4:6]
        R *= R
        R /= S
        return R

    def log_proba(self, Z):
        """Log-probabilities, computed without forming the probabilities.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        log_P : ndarray of shape (n_samples, n_classes)
            Finite for every finite score.
        """
        _, _, _, _, R, S, xp = self._terms(Z)
        # 2 log(h/m) stays finite where (h/m)^2 would underflow to zero.
        L = xp.log(R)
        L *= 2
        L -= xp.log(S)
        return L

    def loss_gradient(self, Y, Z):
        """Per-row negative log-likelihood and its gradient w.r.t. the scores.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_classes)
            Targets, rows summing to one (one-hot labels or soft targets).
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            ``-sum_k y_k log p_k``.
        grad : ndarray of shape (n_samples, n_classes)
            ``2 u / Q - 2 y u / (u^2 + c)``.
        """
        Z, U, H, M, R, S, xp = self._terms(Z)
        Y = as_targets(Y, Z, xp)
        L = xp.log(R)
        # -sum y log p = log S - 2 sum y log(h/m), using sum y = 1.
        loss = xp.log(S[:, 0]) - 2 * rowdot(Y, L, xp)
        # 2u/Q = (u/m) * 2/(m S) and 2yu/q = 2y (u/h) / h: every factor is
        # bounded, so nothing overflows for huge scores. The buffers of
        # log(h/m) and h/m are reused for the two terms (by NumPy).
        L = divide(U, H, L, xp)
        L /= H
        L *= Y
        L *= 2
        grad = divide(U, M, R, xp)
        grad *= (2 / M) / S
        grad -= L
        return loss, grad

    def hessp(self, Z, V, Y=None):
        """Product of each row's loss Hessian with ``V``.

        The log-loss Hessian of this normalizer depends on the targets (it is
        not an exponential family), so ``Y`` is required.

        Parameters
        ----------
        Z : ndarray of shape (n_samples, n_classes)
            Class scores.
        V : ndarray of shape (n_samples, n_classes)
            Directions, one per row.
        Y : ndarray of shape (n_samples, n_classes)
            Targets, rows summing to one.

        Returns
        -------
        HV : ndarray of shape (n_samples, n_classes)
            ``2 v / Q + 2 y (u^2 - c) / q^2 * v - 4 u <u, v> / Q^2`` per row.
        """
        if Y is None:
            raise ValueError(
                f"{type(self).__name__}.hessp needs the targets Y: the Hessian "
                "of its log-loss depends on them. Call hessp(Z, V, Y=Y)."
            )
        Z, U, H, M, _, S, xp = self._terms(Z)
        Y = as_targets(Y, Z, xp)
        V = as_like(V, Z, xp)
        t = (2 / M) / S
        A = U / M
        A *= t  # 2u/Q
        B = U / H
        # (u^2 - c) / q^2 = (2 (u/h)^2 - 1) / h^2 because (u/h)^2 + c/h^2 = 1.
        D = 2 * B * B
        D -= 1
        D /= H
        D /= H
        D *= 2 * Y
        D += t / M
        HV = D * V
        HV -= A * rowdot(A, V, xp)[:, None]
        return HV
