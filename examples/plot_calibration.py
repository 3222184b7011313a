"""
=========================================================
Calibration: temperature, ensemble and reliability
=========================================================

A model is calibrated when, among the samples it labels with confidence
about :math:`c`, a fraction about :math:`c` is classified correctly. This
example fits softmax regression on part of the digits data and measures
calibration on the rest, for four choices:

* ``temperature=1``, the plain maximum-likelihood fit;
* ``temperature="auto"``, which picks the temperature by internal
  cross-validation (see :ref:`calibration`);
* ``calibration="ensemble"``, the mean of the fold models with a map
  (temperature or pulled vector scaling) fitted to their out-of-fold scores:
  still one linear model;
* scikit-learn's
  :class:`~sklearn.calibration.CalibratedClassifierCV` with
  ``method="temperature"``.

Each is shown as a reliability diagram (accuracy against confidence in 15
equal-width bins) with its expected calibration error (ECE), computed with
:mod:`softreg.metrics`.
"""

# %%
# Data and models
# ---------------
#
# A 30% training split keeps the problem small enough for the penalty to
# matter. Strong regularisation (``C=0.01``) makes the plain fit
# underconfident, weak regularisation (``C=100``) overconfident. The third
# setting uses the sparse 1.5-entmax normalizer.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression
from softreg.metrics import classwise_ece, reliability_display, top_label_ece

N_BINS = 15

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=0.3, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)


def reliability(y_true, proba, n_bins=N_BINS):
    """Per-bin accuracy, confidence and counts, and the ECE."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        acc = np.bincount(bins, weights=correct, minlength=n_bins) / count
        conf = np.bincount(bins, weights=confidence, minlength=n_bins) / count
    gaps = np.abs(np.nan_to_num(acc - conf))
    ece = float(np.sum(count / len(y_true) * gaps))
    return acc, conf, count, ece


settings = {
    "softmax, C=0.01": {"C": 0.01},
    "softmax, C=100": {"C": 100.0},
    "entmax15, C=0.1": {"C": 0.1, "normalizer": "entmax15"},
}
methods = [
    "temperature=1",
    'temperature="auto"',
    'calibration="ensemble"',
    "CalibratedClassifierCV",
]


def fit(method, params):
    base = SoftmaxRegression(max_iter=300, random_state=0, **params)
    if method == "temperature=1":
        return base.fit(X_train, y_train)
    if method == 'temperature="auto"':
        return base.set_params(temperature="auto").fit(X_train, y_train)
    if method == 'calibration="ensemble"':
        return base.set_params(calibration="ensemble").fit(X_train, y_train)
    return CalibratedClassifierCV(base, method="temperature", cv=5).fit(
        X_train, y_train
    )


results, curves, models = [], {}, {}
for setting, params in settings.items():
    for method in methods:
        model = fit(method, params)
        proba = model.predict_proba(X_test)
        acc, conf, count, ece = reliability(y_test, proba)
        # The library's metric is the same number (its bins are
        # calibration_curve's, which differ only for values on an edge).
        ece = top_label_ece(y_test, proba, labels=model.classes_, n_bins=N_BINS)
        curves[setting, method] = (acc, conf, count, ece)
        models[setting, method] = proba
        p_true = proba[np.arange(len(y_test)), y_test]
        with np.errstate(divide="ignore"):
            log_loss = -np.mean(np.log(p_true))
        results.append(
            {
                "setting": setting,
                "method": method,
                "T": getattr(model, "temperature_", np.nan),
                "accuracy": np.mean(proba.argmax(axis=1) == y_test),
                "ECE": ece,
                "classwise ECE": classwise_ece(y_test, proba, labels=model.classes_),
                "log-loss": log_loss,
                "zeros (%)": 100 * np.mean(proba == 0),
            }
        )
results = pd.DataFrame(results).set_index(["setting", "method"])

# %%
# Held-out scores
# ---------------
#
# ``T`` is the fitted ``temperature_`` (not reported by
# ``CalibratedClassifierCV``, which fits one temperature per fold).
# Temperature scaling leaves every prediction of a monotone normalizer
# unchanged, so the accuracy of ``temperature="auto"`` equals that of
# ``temperature=1``; ``calibration="ensemble"`` and
# ``CalibratedClassifierCV`` average five models fitted on smaller folds, so
# their accuracy can differ slightly. ``T`` of ``calibration="ensemble"`` is
# 1: its map is folded into ``coef_`` and ``intercept_``.
#
# For 1.5-entmax, ``temperature="auto"`` and ``calibration="ensemble"``
# keep the exact zeros, and the log-loss stays infinite.
# ``CalibratedClassifierCV`` passes the decision values through a *softmax*,
# so its probabilities are no longer entmax probabilities: every zero is
# gone.

with pd.option_context(
    "display.float_format",
    "{:.4g}".format,
    "display.width",
    120,
    "display.max_columns",
    None,
):
    print(results)

# %%
# Reliability diagrams
# --------------------
#
# Bars show the accuracy in each confidence bin, the diagonal is perfect
# calibration; bars below it mean overconfidence, above it
# underconfidence. The hatched boxes span the gap between a bin's accuracy
# and its mean confidence. The grey histogram at the bottom of each panel is the
# share of test samples per bin.

fig, axes = plt.subplots(
    len(settings),
    len(methods),
    figsize=(14, 10.5),
    sharex=True,
    sharey=True,
    layout="constrained",
)
edges = np.linspace(0, 1, N_BINS + 1)
centers = (edges[:-1] + edges[1:]) / 2
for i, setting in enumerate(settings):
    for j, method in enumerate(methods):
        ax = axes[i, j]
        acc, conf, count, ece = curves[setting, method]
        filled = count > 0
        ax.bar(
            centers[filled],
            acc[filled],
            width=1 / N_BINS,
            edgecolor="black",
            linewidth=0.5,
            label="accuracy",
        )
        ax.bar(
            centers[filled],
            np.abs(conf - acc)[filled],
            bottom=np.minimum(acc, conf)[filled],
            width=1 / N_BINS,
            fill=False,
            hatch="///",
            edgecolor="tab:red",
            linewidth=0.5,
            label="gap to the mean confidence",
        )
        ax.bar(
            centers,
            0.25 * count / count.sum(),
            width=1 / N_BINS,
            color="grey",
            alpha=0.6,
            label="share of samples",
        )
        ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1)
        T = results.loc[(setting, method), "T"]
        note = f"ECE = {ece:.3f}" + (f"\nT = {T:.3g}" if np.isfinite(T) else "")
        ax.text(0.04, 0.93, note, va="top", fontsize=9)
        if i == 0:
            ax.set_title(method, fontsize=10)
        if j == 0:
            ax.set_ylabel(f"{setting}\naccuracy")
        if i == len(settings) - 1:
            ax.set_xlabel("confidence (top-class probability)")
handles, labels = axes[0, 0].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside lower center", ncol=3)
fig.suptitle("Reliability on held-out digits (15 bins)")
plt.show()

# %%
# The same curves as scikit-learn displays
# ----------------------------------------
#
# :func:`softreg.metrics.reliability_display` returns a plotted
# :class:`~sklearn.calibration.CalibrationDisplay` of the top-label view
# (correct or not, against the confidence), so the models share one axes
# like binary scikit-learn displays do; the legend carries the ECE.

fig, ax = plt.subplots(figsize=(6, 6))
for method in methods:
    reliability_display(
        y_test,
        models["softmax, C=100", method],
        n_bins=N_BINS,
        name=method,
        ax=ax,
    )
ax.set_title("softmax, C=100: held-out digits")
plt.show()
