"""Post-hoc temperature: the T that minimises the held-out loss of scores / T."""

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .normalizers._base import one_hot

# T is searched on a log scale over [1e-3, 1e3]: wider than any useful
# calibration (Guo et al. 2017 report T in about [1, 4] for overconfident nets).
_LOG_T_BOUNDS = (np.log(1e-3), np.log(1e3))


def fit_temperature(normalizer, scores, y, sample_weight):
    """Temperature minimising the weighted mean loss of ``normalizer(scores / T)``.

    Parameters
    ----------
    normalizer : object
        Has ``loss_gradient(Y, Z)``; its loss is the criterion (the
        log-loss for softmax, the Fenchel-Young loss for sparsemax).
    scores : ndarray of shape (n_samples, n_classes)
        Out-of-fold scores ``X W^T + b`` of models trained at ``T = 1``.
    y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels, or soft targets (rows summing to 1).
    sample_weight : ndarray of shape (n_samples,)

    Returns
    -------
    temperature : float
    """
    if y.ndim == 2:
        Y = np.asarray(y, dtype=scores.dtype)
    else:
        Y = one_hot(y, scores.shape[1], scores.dtype)
    weights = np.asarray(sample_weight, dtype=np.float64)
    total = weights.sum()

    def held_out_loss(log_t, slope=False):
        Z = scores * scores.dtype.type(np.exp(-log_t))
        loss, R = normalizer.loss_gradient(Y, Z)
        if not slope:
            return float(np.dot(weights, loss.astype(np.float64))) / total
        # d/d(log T) of loss(Z / T) is -<R, Z / T>, row by row.
        row_slope = np.einsum("ij,ij->i", R, Z, dtype=np.float64)
        return -float(np.dot(weights, row_slope)) / total

    result = minimize_scalar(
        held_out_loss, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-8}
    )
    log_t = result.x
    # Brent's search brackets the minimum only to ~sqrt(eps), where the loss
    # is flat, so data equal up to rounding (weights vs repeated rows) could
    # give T differing in the 8th digit. The slope crosses zero steeply there:
    # its root pins T down to machine precision.
    lo, hi = log_t - 1e-5, log_t + 1e-5
    if held_out_loss(lo, slope=True) < 0 < held_out_loss(hi, slope=True):
        log_t = brentq(held_out_loss, lo, hi, args=(True,), xtol=1e-15, rtol=1e-15)
    return float(np.exp(log_t))
