"""Post-hoc temperature: the T that minimises the held-out loss of scores / T."""

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .normalizers._base import one_hot

# T is searched on a log scale over [1e-3, 1e3]: wider than any useful
# calibration (Guo et al. 2017 report T in about [1, 4] for overconfident nets).
_LOG_T_BOUNDS = (np.log(1e-3), np.log(1e3))


def temperature_terms(normalizer, scores, y, sample_weight, log_t):
    """Weighted sums of the loss of ``scores / T`` and of its slope in ``log T``.

    One row block's share of the held-out criterion; the sums over blocks,
    divided by the total weight, are the criterion and its derivative.

    Parameters
    ----------
    normalizer : object
        Has ``loss_gradient(Y, Z)``.
    scores : ndarray of shape (n_samples, n_classes)
    y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels, or soft targets (rows summing to 1).
    sample_weight : ndarray of shape (n_samples,)
    log_t : float

    Returns
    -------
    loss : float
        ``sum_i s_i loss(y_i, z_i / T)``.
    slope : float
        Its derivative with respect to ``log T``.
    """
    if y.ndim == 2:  # soft targets
        Y = np.asarray(y, dtype=scores.dtype)
    else:
        Y = one_hot(y, scores.shape[1], scores.dtype)
    Z = scores * scores.dtype.type(np.exp(-log_t))
    loss, R = normalizer.loss_gradient(Y, Z)
    weights = np.asarray(sample_weight, dtype=np.float64)
    # d/d(log T) of loss(Z / T) is -<R, Z / T>, row by row.
    row_slope = np.einsum("ij,ij->i", R, Z, dtype=np.float64)
    return float(weights @ loss.astype(np.float64)), -float(weights @ row_slope)


def minimize_temperature(terms):
    """The temperature minimising a held-out criterion.

    Parameters
    ----------
    terms : callable
        ``log_t -> (loss, slope)``: the weighted mean held-out loss at
        ``T = exp(log_t)`` and its derivative in ``log_t`` (for example
        :func:`temperature_terms` summed over blocks, over the total weight).

    Returns
    -------
    temperature : float
    """
    result = minimize_scalar(
        lambda log_t: terms(log_t)[0],
        bounds=_LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-8},
    )
    log_t = result.x
    # Brent's search brackets the minimum only to ~sqrt(eps), where the loss
    # is flat, so data equal up to rounding (weights vs repeated rows) could
    # give T differing in the 8th digit. The slope crosses zero steeply there:
    # its root pins T down to machine precision.
    lo, hi = log_t - 1e-5, log_t + 1e-5
    if terms(lo)[1] < 0 < terms(hi)[1]:
        log_t = brentq(lambda t: terms(t)[1], lo, hi, xtol=1e-15, rtol=1e-15)
    return float(np.exp(log_t))


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
    return minimize_temperature(held_out_terms(normalizer, scores, y, sample_weight))


def held_out_terms(normalizer, scores, y, sample_weight):
    """``log_t -> (loss, slope)`` of in-memory held-out scores, weighted means.

    The criterion :func:`minimize_temperature` takes; parameters as for
    :func:`temperature_terms`.
    """
    total = float(np.sum(sample_weight, dtype=np.float64))

    def terms(log_t):
        loss, slope = temperature_terms(normalizer, scores, y, sample_weight, log_t)
        return loss / total, slope / total

    return terms
