"""Post-hoc temperature: the T of ``scores / T`` chosen on held-out scores.

The held-out loss alone is a poor guide when the held-out scores contain few
errors, as on small, nearly separable data: with no error at all it keeps
falling as ``T -> 0``, and with one it is minimised where that one error's
margin stops the sharpening, whatever the errors of new data will be. So
``log T`` gets a Gaussian prior centred on the uncalibrated model,

.. math::

    \\hat\\tau = \\arg\\min_\\tau\\; \\sum_i s_i\\, \\ell(y_i, z_i e^{-\\tau})
    + \\frac{\\tau^2}{2 \\sigma^2},

in which the held-out rows count as rows (the loss is their weighted *sum*,
as in the model's own objective): many informative rows overrule the prior,
a handful of errors do not. At the optimum ``tau^2 / (2 sigma^2)`` is at
most the drop of the summed loss from ``T = 1``: sharpening by a factor
``e^k`` has to be paid for with ``k^2 / 2`` nats of held-out loss.

Whether the held-out rows support moving ``T`` at all is then weighed
against leaving the model alone: with prior odds 1:1 between "``T = 1``"
and "``log T ~ N(0, sigma^2)``", the Laplace approximation of the Bayes
factor of the second against the first is

.. math::

    \\log B = L(0) - L(\\hat\tau) - \frac{\\hat\tau^2}{2\\sigma^2}
    - \tfrac12 \\log\big(1 + \\sigma^2 L''(\\hat\tau)\big),

with ``L`` the weighted sum of the losses; the last term is the price of a
free parameter (Occam's factor). The temperature is the posterior mean of
``log T`` under that two-part prior, ``log T = expit(log B) * tau_hat``:
``tau_hat`` when the evidence is clear, shrunk towards ``T = 1`` when it is
not, and continuous in the data. For normalizers whose loss is not a
log-likelihood (sparsemax's, entmax's Fenchel-Young losses) this is the
same rule read as a generalised-Bayes (Gibbs) posterior.
"""

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import expit

from .normalizers._base import one_hot

# T is searched on a log scale over [1e-3, 1e3]: wider than any useful
# calibration (Guo et al. 2017 report T in about [1, 4] for overconfident nets).
_LOG_T_BOUNDS = (np.log(1e-3), np.log(1e3))

#: Standard deviation of the Gaussian prior on ``log T`` (``inf``: none, the
#: plain held-out optimum). 1 puts T within a factor e of the uncalibrated
#: model at one standard deviation and within 7 at two: weak next to the
#: hundreds of informative rows of an under- or overconfident model (whose
#: T is then what the loss says), strong next to a handful of errors.
PRIOR_SCALE = 1.0


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


def minimize_temperature(terms, prior_scale=PRIOR_SCALE):
    """The temperature of a held-out criterion, by the rule of the module.

    Parameters
    ----------
    terms : callable
        ``log_t -> (loss, slope)``: the weighted mean held-out loss at
        ``T = exp(log_t)`` and its derivative in ``log_t`` (for example
        :func:`temperature_terms` summed over blocks, over the total
        weight), with an attribute ``total_weight``, the sum of the
        weights of the held-out rows (as :func:`held_out_terms` returns).
    prior_scale : float, default=PRIOR_SCALE
        Standard deviation ``sigma`` of the Gaussian prior on ``log T``;
        ``inf`` returns the plain minimiser of the held-out loss
        (scikit-learn's temperature scaling).

    Returns
    -------
    temperature : float
        ``exp(expit(log B) * tau_hat)``.
    """
    return choose_temperature(terms, prior_scale).temperature


def choose_temperature(terms, prior_scale=PRIOR_SCALE):
    """The temperature of :func:`minimize_temperature`, with its evidence.

    Parameters are those of :func:`minimize_temperature`.

    Returns
    -------
    choice : :class:`TemperatureChoice`
    """
    if np.isinf(prior_scale):
        # Mean loss only: the plain held-out optimum.
        pull = 0.0
    else:
        # The prior's share of the *mean* criterion: its weight is one row's
        # against total_weight rows.
        pull = 1.0 / (2.0 * prior_scale**2 * terms.total_weight)

    def criterion(log_t):
        loss, slope = terms(log_t)
        return loss + pull * log_t**2, slope + 2.0 * pull * log_t

    result = minimize_scalar(
        lambda log_t: criterion(log_t)[0],
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
    if criterion(lo)[1] < 0 < criterion(hi)[1]:
        log_t = brentq(lambda t: criterion(t)[1], lo, hi, xtol=1e-15, rtol=1e-15)
    log_t = float(log_t)
    if np.isinf(prior_scale):
        return TemperatureChoice(float(np.exp(log_t)), log_t, np.inf)
    total = terms.total_weight
    gain = total * (terms(0.0)[0] - terms(log_t)[0])
    # The curvature of the summed loss, from its analytic slope; it enters
    # only through a logarithm, so a central difference is ample.
    step = 1e-4
    curvature = total * (terms(log_t + step)[1] - terms(log_t - step)[1]) / (2 * step)
    log_bayes = (
        gain
        - log_t**2 / (2 * prior_scale**2)
        - 0.5 * np.log1p(prior_scale**2 * max(curvature, 0.0))
    )
    # Prior odds 1:1 between "T = 1" and "T free": the posterior mean of
    # log T is tau_hat times the posterior probability of a free T. Unlike
    # a hard choice it moves smoothly with the data, and a T that moderate
    # evidence supports is shrunk, not dropped.
    free = float(expit(log_bayes))
    return TemperatureChoice(float(np.exp(free * log_t)), log_t, float(log_bayes))


class TemperatureChoice:
    """The outcome of :func:`choose_temperature`.

    Parameters
    ----------
    temperature : float
        The chosen temperature, ``exp(expit(log_bayes) * log_t)``.
    log_t : float
        The prior's optimum ``tau_hat`` of ``log T``.
    log_bayes : float
        The log Bayes factor of a free ``T`` against ``T = 1`` (``inf``
        without a prior).
    """

    def __init__(self, temperature, log_t, log_bayes):
        self.temperature = temperature
        self.log_t = log_t
        self.log_bayes = log_bayes


def fit_temperature(normalizer, scores, y, sample_weight, prior_scale=PRIOR_SCALE):
    """Temperature of ``normalizer(scores / T)`` on held-out scores.

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
        Counted as rows by the prior, as in the model's objective.
    prior_scale : float, default=PRIOR_SCALE
        See :func:`minimize_temperature`; ``inf`` gives the plain minimiser
        of the weighted mean loss.

    Returns
    -------
    temperature : float
    """
    return minimize_temperature(
        held_out_terms(normalizer, scores, y, sample_weight), prior_scale
    )


def held_out_terms(normalizer, scores, y, sample_weight):
    """``log_t -> (loss, slope)`` of in-memory held-out scores, weighted means.

    The criterion :func:`minimize_temperature` takes (with its
    ``total_weight``); parameters as for :func:`temperature_terms`.
    """
    total = float(np.sum(sample_weight, dtype=np.float64))

    def terms(log_t):
        loss, slope = temperature_terms(normalizer, scores, y, sample_weight, log_t)
        return loss / total, slope / total

    terms.total_weight = total
    return terms
