"""softreg.metrics against direct computations and scikit-learn's binary curve."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.calibration import calibration_curve

from softreg.metrics import (
    classwise_ece,
    reliability_curve,
    reliability_display,
    top_label_ece,
)


@pytest.fixture
def predictions():
    rng = np.random.RandomState(0)
    n, k = 400, 4
    logits = rng.normal(scale=2.0, size=(n, k))
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    # Labels drawn from a sharper distribution than P: P is underconfident.
    sharp = P**2 / (P**2).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in sharp])
    labels = np.array(["a", "b", "c", "d"])
    return labels[y], P, labels, rng.uniform(0.5, 2.0, size=n)


def _direct_ece(hit, prob, weight, n_bins):
    """The ECE formula bin by bin, bins (m / n, (m + 1) / n], the first closed."""
    ece = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        inside = (prob > lo) & (prob <= hi) if m else (prob <= hi)
        if inside.any():
            w = weight[inside]
            gap = np.average(hit[inside], weights=w) - np.average(
                prob[inside], weights=w
            )
            ece += w.sum() / weight.sum() * abs(gap)
    return ece


@pytest.mark.parametrize("n_bins", [1, 10, 15])
def test_top_label_ece_matches_the_formula(predictions, n_bins):
    y, P, labels, w = predictions
    hit = (labels[P.argmax(axis=1)] == y).astype(float)
    for sw in (None, w):
        weight = np.ones(len(y)) if sw is None else sw
        expected = _direct_ece(hit, P.max(axis=1), weight, n_bins)
        got = top_label_ece(y, P, labels=labels, n_bins=n_bins, sample_weight=sw)
        assert_allclose(got, expected, rtol=1e-12)
    assert 0 < top_label_ece(y, P, labels=labels) < 1


def test_classwise_ece_matches_the_formula(predictions):
    y, P, labels, w = predictions
    expected = np.mean(
        [
            _direct_ece((y == c).astype(float), P[:, k], w, 15)
            for k, c in enumerate(labels)
        ]
    )
    assert_allclose(classwise_ece(y, P, labels=labels, sample_weight=w), expected)


def test_perfectly_calibrated_in_the_limit():
    # Labels drawn from P itself: the ECE shrinks with the sample size.
    rng = np.random.RandomState(1)
    P = rng.dirichlet(np.ones(3), size=50_000)
    y = (rng.uniform(size=(len(P), 1)) > P.cumsum(axis=1)).sum(axis=1)
    assert top_label_ece(y, P) < 0.01
    assert classwise_ece(y, P) < 0.01


def test_reliability_curve_is_sklearns_binary_curve(predictions):
    y, P, labels, _ = predictions
    hit = labels[P.argmax(axis=1)] == y
    prob_true, prob_pred, prob = reliability_curve(y, P, labels=labels, n_bins=15)
    ref_true, ref_pred = calibration_curve(hit, P.max(axis=1), n_bins=15)
    assert_allclose(prob_true, ref_true)
    assert_allclose(prob_pred, ref_pred)
    assert_allclose(prob, P.max(axis=1))
    prob_true, prob_pred, _ = reliability_curve(y, P, labels=labels, kind="c")
    ref_true, ref_pred = calibration_curve(y == "c", P[:, 2], n_bins=15)
    assert_allclose(prob_true, ref_true)
    assert_allclose(prob_pred, ref_pred)


def test_reliability_display_is_a_calibration_display(predictions):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, P, labels, _ = predictions
    display = reliability_display(y, P, labels=labels, name="model")
    assert "ECE" in display.line_.get_label()
    assert_allclose(display.line_.get_xdata(), display.prob_pred)
    plt.close("all")


def test_bad_input_is_refused(predictions):
    y, P, labels, _ = predictions
    with pytest.raises(ValueError, match="columns"):
        top_label_ece(y, P[:, :3], labels=labels)
    with pytest.raises(ValueError, match="not among labels"):
        top_label_ece(y, P, labels=np.array(["a", "b", "c", "x"]))
    with pytest.raises(ValueError, match="probabilities"):
        top_label_ece(y, P * 2, labels=labels)
    with pytest.raises(ValueError, match="n_bins"):
        top_label_ece(y, P, labels=labels, n_bins=0)
    with pytest.raises(ValueError, match="kind"):
        reliability_curve(y, P, labels=labels, kind="z")
