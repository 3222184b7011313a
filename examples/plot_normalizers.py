"""
=========================
Comparing the normalizers
=========================

Every built-in normalizer (see :ref:`normalizers`) fitted on two data sets
bundled with scikit-learn, digits (10 classes) and wine (3 classes), and
scored on a held-out quarter of each:

* **accuracy**;
* **log-loss**, :math:`-\\log p_y`, infinite as soon as a sparse normalizer
  gives the true class probability 0;
* **own loss**, the held-out value of the loss each normalizer is trained
  with (the log-loss for softmax, Taylor, spherical and standard, the
  Fenchel–Young loss for sparsemax and 1.5-entmax), finite for all of them;
* **ECE**, the expected calibration error with 15 equal-width bins;
* **fit time** of one fit on this machine;
* and the probabilities each gives to the blurry ``[1, 2]`` and crisp
  ``[10, 20]`` scores of :ref:`why_exp`.

Losses of different normalizers are on different scales, so compare the
log-loss and the ECE across normalizers, and the own loss only down a
column.
"""

# %%
# Setup
# -----

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression
from softreg.normalizers import (
    Entmax15,
    Softmax,
    Sparsemax,
    Spherical,
    Standard,
    Taylor,
)

NORMALIZERS = {
    "softmax": Softmax(),
    "taylor": Taylor(),
    "spherical": Spherical(),
    "sparsemax": Sparsemax(),
    "entmax15": Entmax15(),
    "standard": Standard(),
}


def expected_calibration_error(y_true, proba, n_bins=15):
    """ECE over top-label confidence with equal-width bins (y_true encoded)."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for m in range(n_bins):
        in_bin = bins == m
        if in_bin.any():
            ece += in_bin.mean() * abs(
                correct[in_bin].mean() - confidence[in_bin].mean()
            )
    return ece


def evaluate(name, X_train, X_test, y_train, y_test):
    clf = SoftmaxRegression(normalizer=name, C=1.0, max_iter=100, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_time = time.perf_counter() - start

    proba = clf.predict_proba(X_test)
    y_enc = np.searchsorted(clf.classes_, y_test)
    p_true = proba[np.arange(len(y_test)), y_enc]
    with np.errstate(divide="ignore"):
        log_loss = -np.mean(np.log(p_true))
    scores = X_test @ clf.coef_.T + clf.intercept_
    targets = np.eye(len(clf.classes_))[y_enc]
    own_loss = clf.normalizer_.loss_gradient(targets, scores)[0].mean()
    return {
        "accuracy": np.mean(proba.argmax(axis=1) == y_enc),
        "log-loss": log_loss,
        "own loss": own_loss,
        "ECE": expected_calibration_error(y_enc, proba),
        "zeros (%)": 100 * np.mean(proba == 0),
        "fit time (s)": fit_time,
        "iterations": clf.n_iter_,
    }


datasets = {"digits": load_digits(return_X_y=True), "wine": load_wine(return_X_y=True)}
rows = []
for data_name, (X, y) in datasets.items():
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    for name in NORMALIZERS:
        result = evaluate(name, X_train, X_test, y_train, y_test)
        rows.append({"data": data_name, "normalizer": name, **result})

results = pd.DataFrame(rows).set_index(["data", "normalizer"])

# %%
# Results
# -------
#
# ``zeros (%)`` is the share of held-out probabilities that are exactly 0:
# only the sparse normalizers produce any. Standard normalization needs the
# most iterations: its loss is not convex, and its probabilities barely
# depend on the scale of the scores (only through the small constant
# ``eps``), so the L2 penalty and the data pull on the weights' scale only
# weakly.

PANDAS_DISPLAY = (
    "display.float_format",
    "{:.4g}".format,
    "display.width",
    120,
    "display.max_columns",
    None,
)
with pd.option_context(*PANDAS_DISPLAY):
    print(results)

# %%
# The same table, rendered:

results.style.format(precision=3)

# %%
# A figure of the four headline columns. The log-loss bars of the sparse
# normalizers are missing where it is infinite.

metrics = ["accuracy", "log-loss", "ECE", "fit time (s)"]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.8), layout="constrained")
x = np.arange(len(NORMALIZERS))
width = 0.4
for ax, metric in zip(axes, metrics, strict=True):
    for i, data_name in enumerate(datasets):
        values = (
            results.loc[data_name, metric].reindex(list(NORMALIZERS)).to_numpy(float)
        )
        values = np.where(np.isfinite(values), values, np.nan)
        ax.bar(x + (i - 0.5) * width, values, width, label=data_name)
    ax.set_xticks(x, list(NORMALIZERS), rotation=45, ha="right")
    ax.set_title(metric)
axes[0].set_ylim(0.5, 1.0)
axes[0].legend(loc="lower left")
fig.suptitle("Held-out scores of each normalizer (C=1)")
plt.show()

# %%
# Blurry and crisp scores
# -----------------------
#
# The probabilities each normalizer gives to the scores ``[1, 2]`` and
# ``[10, 20]``. Softmax and 1.5-entmax grow more confident with the larger
# margin, sparsemax is already certain at a margin of 1, and standard
# normalization and the spherical softmax depend (almost) only on the ratio
# of the scores.

Z = np.array([[1.0, 2.0], [10.0, 20.0]])
blurry_crisp = pd.DataFrame(
    {name: normalizer(Z).ravel() for name, normalizer in NORMALIZERS.items()},
    index=pd.MultiIndex.from_product(
        [["blurry [1, 2]", "crisp [10, 20]"], ["p(0)", "p(1)"]]
    ),
).T
with pd.option_context(*PANDAS_DISPLAY):
    print(blurry_crisp)

# %%
# Rendered:

blurry_crisp.style.format(precision=4)

# %%
fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
ax.bar(x - width / 2, blurry_crisp[("blurry [1, 2]", "p(1)")], width, label="[1, 2]")
ax.bar(x + width / 2, blurry_crisp[("crisp [10, 20]", "p(1)")], width, label="[10, 20]")
ax.set_xticks(x, list(NORMALIZERS))
ax.set(ylabel="probability of the larger score", ylim=(0, 1.05))
ax.legend(title="scores", loc="lower right")
ax.set_title("Does a larger margin mean more confidence?")
plt.show()
