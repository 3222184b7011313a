"""
=====================================================
SoftmaxRegression and LogisticRegression side by side
=====================================================

With the softmax normalizer and no temperature,
:class:`~softreg.SoftmaxRegression` minimises the same penalised multinomial
log-likelihood as scikit-learn's
:class:`~sklearn.linear_model.LogisticRegression`. This example checks that
the two agree, coefficient by coefficient and probability by probability:

* with three or more classes, for the **same** ``C``;
* with two classes, for ``SoftmaxRegression(C=c)`` against
  ``LogisticRegression(C=2 * c)``, where scikit-learn's single coefficient
  vector equals ``coef_[1] - coef_[0]`` (see :ref:`binary_case`).
"""

# %%
# Three classes: the same C
# -------------------------
#
# The wine data has 13 features and 3 classes. Both models are fitted to
# tight tolerances on standardised features, so that any difference left is
# the solvers' and not the models'.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegression

X, y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(X)

C = 0.5
softreg_multi = SoftmaxRegression(C=C, tol=1e-10, max_iter=1000).fit(X, y)
sklearn_multi = LogisticRegression(C=C, tol=1e-10, max_iter=1000).fit(X, y)

print(f"coef_ shapes: {softreg_multi.coef_.shape} and {sklearn_multi.coef_.shape}")
print(
    "largest |coef_ difference|:      "
    f"{np.abs(softreg_multi.coef_ - sklearn_multi.coef_).max():.2e}"
)
print(
    "largest |intercept_ difference|: "
    f"{np.abs(softreg_multi.intercept_ - sklearn_multi.intercept_).max():.2e}"
)
proba_gap = softreg_multi.predict_proba(X) - sklearn_multi.predict_proba(X)
print(f"largest |probability difference|: {np.abs(proba_gap).max():.2e}")

# %%
# Two classes: C for softreg is 2 C for scikit-learn
# ---------------------------------------------------
#
# softreg keeps a score vector per class even for two classes and penalises
# both, so its fitted ``coef_`` has two opposite rows. scikit-learn fits the
# difference only. Matching the penalties needs ``LogisticRegression`` with
# twice the ``C``; with the same ``C`` the two models differ.

X2, y2 = load_breast_cancer(return_X_y=True)
X2 = StandardScaler().fit_transform(X2)

c = 0.05
softreg_bin = SoftmaxRegression(C=c, tol=1e-10, max_iter=1000).fit(X2, y2)
sklearn_2c = LogisticRegression(C=2 * c, tol=1e-10, max_iter=1000).fit(X2, y2)
sklearn_c = LogisticRegression(C=c, tol=1e-10, max_iter=1000).fit(X2, y2)

w_softreg = softreg_bin.coef_[1] - softreg_bin.coef_[0]
print(
    f"softreg coef_ shape {softreg_bin.coef_.shape}, sklearn {sklearn_2c.coef_.shape}"
)
print(
    "largest |coef_[1] + coef_[0]|:                    "
    f"{np.abs(softreg_bin.coef_[1] + softreg_bin.coef_[0]).max():.2e}"
)
for name, ref in [
    ("LogisticRegression(C=2c)", sklearn_2c),
    ("LogisticRegression(C=c)", sklearn_c),
]:
    print(
        f"vs {name}: |coef diff| {np.abs(w_softreg - ref.coef_[0]).max():.2e}, "
        "|proba diff| "
        f"{np.abs(softreg_bin.predict_proba(X2) - ref.predict_proba(X2)).max():.2e}"
    )

# %%
# The figure
# ----------
#
# Each point is one coefficient (left) or one predicted probability (right);
# points on the diagonal agree. In the bottom row, the grey points use the
# same ``C`` for both estimators and fall off the diagonal.

fig, axes = plt.subplots(2, 2, figsize=(9, 8.5), layout="constrained")


def identity_scatter(ax, a, b, **kwargs):
    ax.scatter(a, b, s=14, alpha=0.7, **kwargs)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, zorder=0)


ax = axes[0, 0]
identity_scatter(ax, sklearn_multi.coef_.ravel(), softreg_multi.coef_.ravel())
ax.set(
    title=f"wine, 3 classes: coef_ (C={C} for both)",
    xlabel="LogisticRegression.coef_",
    ylabel="SoftmaxRegression.coef_",
)

ax = axes[0, 1]
identity_scatter(
    ax, sklearn_multi.predict_proba(X).ravel(), softreg_multi.predict_proba(X).ravel()
)
ax.set(
    title="wine, 3 classes: predict_proba",
    xlabel="LogisticRegression",
    ylabel="SoftmaxRegression",
)

ax = axes[1, 0]
identity_scatter(ax, sklearn_c.coef_[0], w_softreg, color="grey", label="LR(C=c)")
identity_scatter(ax, sklearn_2c.coef_[0], w_softreg, label="LR(C=2c)")
ax.set(
    title=f"breast cancer, 2 classes: coef_ (c={c})",
    xlabel="LogisticRegression.coef_[0]",
    ylabel="SoftmaxRegression: coef_[1] - coef_[0]",
)
ax.legend(loc="upper left")

ax = axes[1, 1]
proba_softreg = softreg_bin.predict_proba(X2)[:, 1]
identity_scatter(
    ax, sklearn_c.predict_proba(X2)[:, 1], proba_softreg, color="grey", label="LR(C=c)"
)
identity_scatter(
    ax, sklearn_2c.predict_proba(X2)[:, 1], proba_softreg, label="LR(C=2c)"
)
ax.set(
    title="breast cancer, 2 classes: P(class 1)",
    xlabel="LogisticRegression",
    ylabel="SoftmaxRegression(C=c)",
)
ax.legend(loc="upper left")
plt.show()
