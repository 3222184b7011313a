"""The penalised linear objective over one flat parameter vector.

With scores ``z_i = (W x_i + b) / T``, weights ``s_i`` and ``S = sum_i s_i``::

    f(W, b) = (1/S) sum_i s_i loss(y_i, z_i) + ||W||_F^2 / (2 C S)

which is scikit-learn's multinomial objective (``LinearModelLoss`` with
``l2_reg_strength = 1 / (C S)``). The normalizer supplies ``loss`` and its
gradient with respect to ``z``; this module only does the linear algebra.

The flat vector holds ``W^T`` (shape ``(n_features, n_classes)``) row by row,
followed by ``b`` when there is an intercept, so ``X @ W^T`` and ``X^T @ R``
need no transposed copies.
"""

import numpy as np

from ._blocks import BlockRunner, block_slices
from .normalizers._base import one_hot


def unpack(w, n_features, n_classes):
    """Views ``(W^T, b)`` of a flat parameter vector; ``b`` is None if absent."""
    Wt = w[: n_features * n_classes].reshape(n_features, n_classes)
    b = w[n_features * n_classes :] if w.size > n_features * n_classes else None
    return Wt, b


def linear_scores(X, Wt, b, inv_temperature):
    """``(X @ W^T + b) / T`` for one block, in ``X``'s dtype."""
    Z = X @ Wt
    if b is not None:
        Z += b
    if inv_temperature != 1.0:
        Z *= inv_temperature
    return np.asarray(Z)


class LinearObjective:
    """Loss and gradient of the penalised objective, evaluated over row blocks.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
        Training data, float32 or float64; never copied.
    y : ndarray of shape (n_samples,)
        Encoded labels in ``range(n_classes)``.
    n_classes : int
    normalizer : object
        Has ``loss_gradient(Y, Z)``.
    sample_weight : ndarray of shape (n_samples,)
        Per-sample weights ``s_i`` (class weights already folded in).
    C : float
        Inverse penalty strength; ``np.inf`` for no penalty.
    fit_intercept : bool
    temperature : float, default=1.0
    runner : BlockRunner, default=None
    block_rows : int, default=None
    """

    def __init__(
        self,
        X,
        y,
        n_classes,
        normalizer,
        sample_weight,
        C,
        fit_intercept,
        temperature=1.0,
        runner=None,
        block_rows=None,
    ):
        self.X = X
        self.y = y
        self.n_classes = n_classes
        self.normalizer = normalizer
        self.sample_weight = sample_weight
        self.fit_intercept = fit_intercept
        self.inv_temperature = 1.0 / temperature
        self.runner = runner if runner is not None else BlockRunner(1)
        self.n_features = X.shape[1]
        self.sw_sum = float(np.sum(sample_weight, dtype=np.float64))
        self.l2 = 0.0 if np.isinf(C) else 1.0 / (C * self.sw_sum)
        self.slices = block_slices(
            X.shape[0], self.n_features + n_classes, X.dtype.itemsize, block_rows
        )

    @property
    def n_params(self):
        return (self.n_features + int(self.fit_intercept)) * self.n_classes

    def _block_loss_gradient(self, sl, Wt, b):
        Xb = self.X[sl]
        Z = linear_scores(Xb, Wt, b, self.inv_temperature)
        Y = one_hot(self.y[sl], self.n_classes, Z.dtype)
        loss, R = self.normalizer.loss_gradient(Y, Z)
        s = self.sample_weight[sl]
        # Chain rule through z = (XW^T + b) / T, and the 1/S normalisation.
        R *= (s * (self.inv_temperature / self.sw_sum)).astype(R.dtype)[:, None]
        return (
            float(np.dot(s, loss.astype(np.float64, copy=False))),
            np.asarray(Xb.T @ R),
            R.sum(axis=0, dtype=np.float64),
        )

    def loss_gradient(self, w):
        """Objective value and gradient at the flat parameter vector ``w``.

        Parameters
        ----------
        w : ndarray of shape (n_params,)

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,), float64
        """
        Wt64, _ = unpack(w, self.n_features, self.n_classes)
        wx = w.astype(self.X.dtype, copy=False)
        Wt, b = unpack(wx, self.n_features, self.n_classes)
        parts = self.runner.map(
            lambda sl: self._block_loss_gradient(sl, Wt, b), self.slices
        )
        loss = 0.0
        grad = np.zeros((self.n_params // self.n_classes, self.n_classes))
        # Sum the blocks in their fixed order: same input, same bits.
        for block_loss, gW, gb in parts:
            loss += block_loss
            grad[: self.n_features] += gW
            if self.fit_intercept:
                grad[self.n_features] += gb
        loss /= self.sw_sum
        if self.l2:
            loss += 0.5 * self.l2 * float(np.vdot(Wt64, Wt64))
            grad[: self.n_features] += self.l2 * Wt64
        return loss, grad.ravel()
