"""Calibration metrics for multiclass probabilities.

scikit-learn 1.9's :func:`~sklearn.calibration.calibration_curve` and
:class:`~sklearn.calibration.CalibrationDisplay` are binary. The multiclass
reliability questions reduce to binary ones, which is how they are answered
here:

* *top-label*: is the predicted class right (0/1) against the confidence,
  the top-class probability (Guo et al. 2017);
* *class-wise*: is the sample of class ``k`` (0/1) against ``p_k``, for
  every class (Kull et al. 2019).

The bins are :func:`~sklearn.calibration.calibration_curve`'s
``strategy="uniform"`` bins, so an ECE is the weighted mean gap of the curve
that :func:`reliability_display` draws.
"""

import numpy as np
from sklearn.calibration import CalibrationDisplay
from sklearn.utils import check_consistent_length
from sklearn.utils.validation import _check_sample_weight, check_array

__all__ = [
    "classwise_ece",
    "reliability_curve",
    "reliability_display",
    "top_label_ece",
]


def _check(y_true, y_prob, labels, sample_weight):
    """Encoded labels, probabilities and weights, validated."""
    y_prob = check_array(y_prob, dtype=np.float64)
    y_true = np.asarray(y_true)
    check_consistent_length(y_true, y_prob)
    labels = np.unique(y_true) if labels is None else np.asarray(labels)
    if labels.shape[0] != y_prob.shape[1]:
        raise ValueError(
            f"y_prob has {y_prob.shape[1]} columns but there are "
            f"{labels.shape[0]} labels; pass labels (e.g. the model's classes_)."
        )
    order = np.argsort(labels)
    position = np.searchsorted(labels[order], y_true)
    position = np.minimum(position, labels.size - 1)
    if not np.all(labels[order][position] == y_true):
        raise ValueError("y_true has values that are not among labels.")
    if np.any(y_prob < 0) or np.any(y_prob > 1):
        raise ValueError("y_prob must be probabilities in [0, 1].")
    sample_weight = _check_sample_weight(sample_weight, y_prob)
    return order[position], y_prob, sample_weight


def _bins(values, n_bins):
    """Uniform bins of ``[0, 1]``, as ``calibration_curve`` draws them."""
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], values)


def _binned_gap(hit, prob, weight, n_bins):
    """``sum_m (W_m / W) |mean hit - mean prob|`` over the bins of ``prob``."""
    bins = _bins(prob, n_bins)
    hits = np.bincount(bins, weights=weight * hit, minlength=n_bins)
    probs = np.bincount(bins, weights=weight * prob, minlength=n_bins)
    # |hits / total - probs / total| * total / W, without dividing by empty bins.
    return float(np.abs(hits - probs).sum() / weight.sum())


def top_label_ece(y_true, y_prob, *, labels=None, n_bins=15, sample_weight=None):
    """Top-label expected calibration error.

    The weighted share of samples in each confidence bin times the gap
    between the bin's accuracy and its mean confidence, summed over the
    ``n_bins`` uniform bins of the top-class probability.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``labels``.
    labels : array-like of shape (n_classes,), default=None
        The class of each column (a model's ``classes_``); default the
        sorted labels of ``y_true``.
    n_bins : int, default=15
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    ece : float
        In ``[0, 1]``; 0 for a perfectly calibrated model.

    Examples
    --------
    >>> from softreg.metrics import top_label_ece
    >>> round(top_label_ece([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), 6)
    0.3
    """
    y, P, w = _check(y_true, y_prob, labels, sample_weight)
    top = P.argmax(axis=1)
    confidence = P[np.arange(P.shape[0]), top]
    return _binned_gap((top == y).astype(np.float64), confidence, w, n_bins)


def classwise_ece(y_true, y_prob, *, labels=None, n_bins=15, sample_weight=None):
    """Class-wise expected calibration error (Kull et al. 2019).

    For each class ``k``, the ECE of ``p_k`` as the probability of the
    binary event "the sample is of class ``k``" over all samples; the mean
    over the classes.

    Parameters
    ----------
    y_true, y_prob, labels, n_bins, sample_weight
        As in :func:`top_label_ece`.

    Returns
    -------
    ece : float

    Examples
    --------
    >>> from softreg.metrics import classwise_ece
    >>> round(classwise_ece([0, 1], [[0.9, 0.1], [0.3, 0.7]]), 6)
    0.2
    """
    y, P, w = _check(y_true, y_prob, labels, sample_weight)
    return float(
        np.mean(
            [
                _binned_gap((y == k).astype(np.float64), P[:, k], w, n_bins)
                for k in range(P.shape[1])
            ]
        )
    )


def reliability_curve(y_true, y_prob, *, labels=None, n_bins=15, kind="top-label"):
    """Points of a multiclass reliability diagram.

    The arrays of :func:`~sklearn.calibration.calibration_curve` (same
    uniform bins, empty bins left out) for the binary view ``kind``.

    Parameters
    ----------
    y_true, y_prob, labels, n_bins
        As in :func:`top_label_ece`.
    kind : "top-label" or label, default="top-label"
        ``"top-label"``: accuracy against confidence. A class label:
        frequency of that class against its probability.

    Returns
    -------
    prob_true : ndarray of shape (n_nonempty_bins,)
        Accuracy (or class frequency) in each bin.
    prob_pred : ndarray of shape (n_nonempty_bins,)
        Mean confidence (or probability) in each bin.
    prob : ndarray of shape (n_samples,)
        The binned probability of every sample (for a histogram).
    """
    y, P, _ = _check(y_true, y_prob, labels, None)
    hit, prob = _binary_view(y, P, labels, y_true, kind)
    bins = _bins(prob, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    keep = count > 0
    prob_true = np.bincount(bins, weights=hit, minlength=n_bins)[keep] / count[keep]
    prob_pred = np.bincount(bins, weights=prob, minlength=n_bins)[keep] / count[keep]
    return prob_true, prob_pred, prob


def _binary_view(y, P, labels, y_true, kind):
    if isinstance(kind, str) and kind == "top-label":
        top = P.argmax(axis=1)
        return (top == y).astype(np.float64), P[np.arange(P.shape[0]), top]
    classes = np.unique(y_true) if labels is None else np.asarray(labels)
    match = np.flatnonzero(classes == kind)
    if match.size != 1:
        raise ValueError(
            f"kind must be 'top-label' or one of the labels {classes.tolist()}; "
            f"got {kind!r}."
        )
    k = match[0]
    return (y == k).astype(np.float64), P[:, k]


def reliability_display(
    y_true, y_prob, *, labels=None, n_bins=15, kind="top-label", name=None, ax=None
):
    """A multiclass reliability diagram as a scikit-learn ``CalibrationDisplay``.

    Needs matplotlib. The display's ``prob_true``/``prob_pred`` are those of
    :func:`reliability_curve` and its ``y_prob`` the binned probabilities,
    so it plots, and combines with other displays on the same axes, like
    :meth:`~sklearn.calibration.CalibrationDisplay.from_predictions`.

    Parameters
    ----------
    y_true, y_prob, labels, n_bins, kind
        As in :func:`reliability_curve`.
    name : str, default=None
        Legend label; the ECE of the curve is appended.
    ax : matplotlib Axes, default=None

    Returns
    -------
    display : :class:`~sklearn.calibration.CalibrationDisplay`
        Plotted; its x axis is the confidence (top-label) or the class
        probability.
    """
    prob_true, prob_pred, prob = reliability_curve(
        y_true, y_prob, labels=labels, n_bins=n_bins, kind=kind
    )
    y, P, w = _check(y_true, y_prob, labels, None)
    hit, _ = _binary_view(y, P, labels, y_true, kind)
    ece = _binned_gap(hit, prob, w, n_bins)
    label = f"ECE {ece:.3f}" if name is None else f"{name} (ECE {ece:.3f})"
    display = CalibrationDisplay(prob_true, prob_pred, prob, estimator_name=label)
    display.plot(ax=ax)
    if isinstance(kind, str) and kind == "top-label":
        display.ax_.set_xlabel("Mean confidence (top-class probability)")
        display.ax_.set_ylabel("Accuracy")
    return display
