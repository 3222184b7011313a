"""
===========================================
Grid search over C, normalizer, temperature
===========================================

:class:`~softreg.SoftmaxRegression` is an ordinary scikit-learn
classifier: it goes into a :class:`~sklearn.pipeline.Pipeline` after a
:class:`~sklearn.preprocessing.StandardScaler`, and
:class:`~sklearn.model_selection.GridSearchCV` tunes its parameters,
including the normalizer (by name) and the temperature.

The search also shows something about the temperature: under the L2
penalty, training with temperature :math:`T` and ``C`` gives the same model
as :math:`T = 1` and ``C / T**2`` (see :ref:`temperature_equivalence`). On
a grid of ``C`` in powers of 4 and :math:`T \\in \\{0.5, 1, 2\\}`, the
cross-validation curves are therefore shifted copies of each other.
"""

# %%
# The search
# ----------
#
# Scores: accuracy, and the (negated) multiclass Brier score, the mean
# squared distance between the probability vector and the one-hot label. The
# Brier score is finite for every normalizer, including the sparse ones, and
# rewards calibrated probabilities. The best model is refitted on the Brier
# score.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression

X, y = load_digits(return_X_y=True)
pipeline = Pipeline(
    [("scale", StandardScaler()), ("clf", SoftmaxRegression(max_iter=200))]
)
param_grid = {
    "clf__C": 4.0 ** np.arange(-3, 2),
    "clf__normalizer": ["softmax", "entmax15"],
    "clf__temperature": [0.5, 1.0, 2.0],
}
search = GridSearchCV(
    pipeline,
    param_grid,
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
    scoring={"accuracy": "accuracy", "brier": "neg_brier_score"},
    refit="brier",
    n_jobs=2,
)
search.fit(X, y)
print("best parameters:", search.best_params_)
print(f"best mean Brier score: {-search.best_score_:.4f}")

# %%
# The cross-validation results, one row per candidate:

results = pd.DataFrame(search.cv_results_)
results = results.rename(
    columns={
        "param_clf__C": "C",
        "param_clf__normalizer": "normalizer",
        "param_clf__temperature": "T",
    }
)
results["C"] = results["C"].astype(float)
results["T"] = results["T"].astype(float)
results["Brier"] = -results["mean_test_brier"]
results["accuracy"] = results["mean_test_accuracy"]
table = results[["normalizer", "T", "C", "accuracy", "Brier", "rank_test_brier"]]
table.sort_values("rank_test_brier").head(10).style.format(precision=4)

# %%
# Plotting the results
# --------------------
#
# Left: the mean held-out Brier score against ``C``, one line per normalizer
# and temperature. Right: the same points against the *effective*
# ``C / T**2``. The three temperatures of each normalizer fall on one
# curve: a training-time temperature is a re-parametrisation of ``C``, so
# there is no need to search over both. (Hollow markers of different sizes
# let coinciding points show through each other.)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
markers = {0.5: "o", 1.0: "s", 2.0: "^"}
colors = {"softmax": "tab:blue", "entmax15": "tab:orange"}
for (normalizer, T), group in results.groupby(["normalizer", "T"]):
    group = group.sort_values("C")
    style = dict(
        color=colors[normalizer], marker=markers[T], label=f"{normalizer}, T={T:g}"
    )
    axes[0].plot(group["C"], group["Brier"], **style)
    axes[1].plot(
        group["C"] / T**2,
        group["Brier"],
        ls="none",
        ms={0.5: 12, 1.0: 8, 2.0: 5}[T],
        mfc="none",
        mew=1.5,
        **style,
    )
for normalizer, group in results[results["T"] == 1.0].groupby("normalizer"):
    group = group.sort_values("C")
    axes[1].plot(group["C"], group["Brier"], color=colors[normalizer], lw=1)
axes[0].set(
    xscale="log", xlabel="C", ylabel="mean held-out Brier score (lower is better)"
)
axes[1].set(xscale="log", xlabel="effective C / T²")
axes[0].set_title("against C")
axes[1].set_title("against C / T²: one curve per normalizer")
axes[0].legend(fontsize=8, ncol=2)
plt.show()

# %%
# The best pipeline is refitted on all the data and used as usual:

best = search.best_estimator_
print(best)
print(best.predict_proba(X[:2]).round(3))
