"""Post-hoc calibration maps fitted to out-of-fold scores, linear in the scores.

A map sends scores ``z`` to ``scale * z + bias`` (elementwise, one scale and
one bias per class) before the normalizer. Plain temperature is the map with
every scale ``1 / T`` and no bias. Because the map is linear in the scores,
it folds into the coefficients: ``coef_ * scale[:, None]`` and
``intercept_ * scale + bias``, so the calibrated model stays one linear model.

*Vector scaling* (Guo et al. 2017) frees the scales and biases of the
classes; here with an L2 pull towards plain temperature,

.. math::

    \\frac{1}{S} \\sum_i s_i\\, \\ell(y_i, a \\odot z_i + c)
    + \\lambda \\big(\\lVert a - \\bar a \\mathbf 1\\rVert^2
    + \\lVert c\\rVert^2\\big),

whose strength ``lambda`` (``inf``: plain temperature) is chosen by an
inner cross-validation on the out-of-fold scores themselves, even folds
against odd ones: no model is refitted for it.
"""

import numpy as np
from scipy.optimize import minimize

from ._temperature import held_out_terms, minimize_temperature

#: Pull strengths tried by the inner cross-validation; ``inf`` is plain
#: temperature. Measured on the benchmark's datasets, weaker pulls than
#: 1e-3 overfit the few hundred out-of-fold rows of small problems.
PULLS = (np.inf, 1e-1, 1e-2, 1e-3)


class CalibrationMap:
    """Per-class scale and bias applied to the scores, ``scale * z + bias``.

    Parameters
    ----------
    scale : ndarray of shape (n_classes,)
    bias : ndarray of shape (n_classes,)
    pull : float
        The L2 pull towards plain temperature it was fitted with; ``inf``
        when it is a plain temperature (every scale equal, no bias).
    """

    def __init__(self, scale, bias, pull):
        self.scale = np.asarray(scale, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64)
        self.pull = float(pull)

    @classmethod
    def temperature(cls, temperature, n_classes):
        """The map of plain temperature ``T``: every scale ``1 / T``."""
        return cls(np.full(n_classes, 1.0 / temperature), np.zeros(n_classes), np.inf)

    def __call__(self, scores):
        """The mapped scores, in float64."""
        return np.asarray(scores, dtype=np.float64) * self.scale + self.bias

    def fold_into(self, coef, intercept):
        """The coefficients of the calibrated linear model.

        Parameters
        ----------
        coef : ndarray of shape (n_classes, n_features)
        intercept : ndarray of shape (n_classes,)

        Returns
        -------
        coef, intercept : ndarray
            ``coef * scale[:, None]`` and ``intercept * scale + bias``.
        """
        return coef * self.scale[:, None], intercept * self.scale + self.bias


def _weighted_loss(normalizer, Y, Z, weights):
    """Weighted mean loss of ``Z`` and its gradient with respect to ``Z``."""
    loss, R = normalizer.loss_gradient(Y, Z)
    total = weights.sum()
    return float(weights @ loss) / total, R * (weights / total)[:, None]


def fit_vector_scaling(
    normalizer, scores, Y, weights, pull, temperature=None, start=None, tight=True
):
    """The vector-scaling map with an L2 pull ``pull`` towards temperature.

    Parameters
    ----------
    normalizer : object
        Has ``loss_gradient(Y, Z)``.
    scores : ndarray of shape (n_samples, n_classes)
        Out-of-fold scores.
    Y : ndarray of shape (n_samples, n_classes)
        Targets, rows on the simplex (one-hot labels or soft targets).
    weights : ndarray of shape (n_samples,)
    pull : float
        ``lambda`` of the module docstring; ``inf`` fits plain temperature.
    temperature : float, default=None
        The plain temperature of these scores, the starting point (fitted
        here when None).
    start : CalibrationMap, default=None
        A warm start (a map of a stronger pull) instead of the temperature.
    tight : bool, default=True
        Solve to near machine precision; False stops earlier, enough to
        compare pulls.

    Returns
    -------
    CalibrationMap
    """
    Z = np.asarray(scores, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    n_classes = Z.shape[1]
    if temperature is None:
        temperature = minimize_temperature(held_out_terms(normalizer, Z, Y, weights))
    plain = CalibrationMap.temperature(temperature, n_classes)
    if np.isinf(pull):
        return plain
    start = plain if start is None else start

    # The overall sharpness stays the chosen temperature's: the map's mean
    # scale is 1 / T, and only the spread of the scales around it and the
    # biases are free (and pulled to zero). A free mean scale would bring
    # back the held-out optimum that the temperature's prior and Bayes
    # factor refuse when the errors are few (an unbounded sharpening).
    mean_scale = 1.0 / temperature
    # L-BFGS works on u = scale * rms: the curvature in each scale grows with
    # the square of its class's scores (near-separable fits score in the
    # tens), while the biases' stays O(1); this diagonal preconditioning
    # cuts the iterations several times.
    rms = np.sqrt(weights @ Z**2 / weights.sum())
    rms = np.where(rms > 0, rms, 1.0)

    def unpack(params):
        free = params[:n_classes] / rms
        spread = free - free.mean()
        return spread, mean_scale + spread, params[n_classes:]

    def objective(params):
        spread, scale, bias = unpack(params)
        loss, R = _weighted_loss(normalizer, Y, Z * scale + bias, weights)
        value = loss + pull * (spread @ spread + bias @ bias)
        grad_scale = np.einsum("ij,ij->j", R, Z) + 2 * pull * spread
        # Through spread = free - mean(free): the mean of the gradient drops.
        grad_free = grad_scale - grad_scale.mean()
        grad_bias = R.sum(axis=0) + 2 * pull * bias
        return value, np.concatenate([grad_free / rms, grad_bias])

    result = minimize(
        objective,
        np.concatenate([start.scale * rms, start.bias]),
        jac=True,
        method="L-BFGS-B",
        # Tight: the map is small and its optimum should not depend on how
        # L-BFGS-B approached it (or from where).
        options={
            "maxiter": 1000,
            "gtol": 1e-9 if tight else 1e-5,
            "ftol": 1e-14 if tight else 1e-8,
        },
    )
    _, scale, bias = unpack(result.x)
    return CalibrationMap(scale, bias, pull)


def held_out_loss(normalizer, calibration, scores, Y, weights):
    """Weighted mean loss of the mapped ``scores``."""
    return _weighted_loss(normalizer, Y, calibration(scores), weights)[0]


def choose_pull(normalizer, scores, Y, weights, folds, pulls=PULLS):
    """The pull of :data:`PULLS` with the lowest inner cross-validated loss.

    The out-of-fold scores are split in two by the fold that scored them
    (even folds against odd ones): each pull's map is fitted on one half and
    scored on the other, both ways, and the total held-out loss decides.
    Splitting by fold, not by row, validates the map on the scores of
    models it was not fitted to, as the final map will be (it is applied to
    another model); it also makes the choice depend on the folds only, so
    that weighted rows and repeated rows choose alike. Two halves, not
    more: the map has only ``2 * n_classes`` parameters. Ties go to the
    earlier (stronger) pull, so plain temperature wins unless a freer map
    predicts better.

    Parameters
    ----------
    folds : ndarray of shape (n_samples,)
        The outer fold of each row.

    Returns
    -------
    pull : float
    """
    Z = np.asarray(scores, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    half = np.asarray(folds) % 2 == 0
    halves = [(half, ~half), (~half, half)]
    if len(pulls) == 1 or any(not weights[h].sum() > 0 for h in (half, ~half)):
        return pulls[0]
    losses = np.zeros(len(pulls))
    for train, test in halves:
        temperature = minimize_temperature(
            held_out_terms(normalizer, Z[train], Y[train], weights[train])
        )
        calibration = None
        for i, pull in enumerate(pulls):
            # Along the pulls from strong to weak, each map starts from the
            # previous one: a path, a few iterations per step.
            calibration = fit_vector_scaling(
                normalizer,
                Z[train],
                Y[train],
                weights[train],
                pull,
                temperature,
                start=calibration,
                tight=False,
            )
            losses[i] += weights[test].sum() * held_out_loss(
                normalizer, calibration, Z[test], Y[test], weights[test]
            )
    return pulls[int(np.argmin(losses))]


def fit_calibration(normalizer, scores, Y, weights, folds, pulls=PULLS):
    """The calibration map of out-of-fold scores, its pull chosen by inner CV.

    Parameters
    ----------
    normalizer : object
        Has ``loss_gradient(Y, Z)``; its loss is the criterion.
    scores : ndarray of shape (n_samples, n_classes)
        Out-of-fold scores of models trained at ``T = 1``.
    Y : ndarray of shape (n_samples, n_classes)
        Targets on the simplex.
    weights : ndarray of shape (n_samples,)
    folds : ndarray of shape (n_samples,)
        The outer fold of each row (see :func:`choose_pull`).
    pulls : sequence of float, default=PULLS
        Candidate pulls; ``(inf,)`` gives plain temperature.

    Returns
    -------
    CalibrationMap
    """
    # A custom cv may leave rows out of every test fold: they have no score.
    scored = np.asarray(folds) >= 0
    scores, Y, weights = scores[scored], Y[scored], weights[scored]
    folds = np.asarray(folds)[scored]
    pull = choose_pull(normalizer, scores, Y, weights, folds, pulls)
    return fit_vector_scaling(normalizer, scores, Y, weights, pull)
