"""
=====================================================
A multinomial lasso path and SoftmaxRegressionCV
=====================================================

The lasso (``l1_ratio=1``) sets coefficients to exact zeros; how many
depends on ``C``. This example fits a whole *regularisation path* on the
wine data, from a penalty so strong that every weight is zero to one so weak
that nearly every feature is used, and shows along it

* each coefficient (one line per feature and class),
* the number of non-zero coefficients,
* the log-loss on held-out rows,

then lets :class:`~softreg.SoftmaxRegressionCV` choose ``C`` and
``l1_ratio`` by 5-fold cross-validation (see :ref:`cross_validation`).
"""

# %%
# One path on a training split
# ----------------------------
#
# ``cv=[(train, test)]`` is a single split: SoftmaxRegressionCV fits one path
# on ``train``, from the smallest ``C`` to the largest, each fit starting
# from the previous solution, and scores every step on ``test``.
# ``refit=False`` fits nothing else.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from softreg import SoftmaxRegressionCV

data = load_wine()
X = StandardScaler().fit_transform(data.data)
y = data.target
rows = np.arange(y.size)
train, test = train_test_split(rows, test_size=0.5, stratify=y, random_state=0)

Cs = np.logspace(-2, 2, 40)
path = SoftmaxRegressionCV(
    Cs=Cs, l1_ratios=[1.0], cv=[(train, test)], refit=False, tol=1e-8, max_iter=1000
).fit(X, y)
coefs = path.coefs_paths_[0, 0, :, :, :-1]  # (n_cs, n_classes, n_features)
nonzero = (coefs != 0).sum(axis=(1, 2))
held_out = -path.scores_[0, 0]
print(f"{path.n_iter_.sum()} solver iterations for {Cs.size} values of C")
print(f"non-zero coefficients from {nonzero[0]} to {nonzero[-1]} of {coefs[0].size}")

# %%
# SoftmaxRegressionCV's choice
# ----------------------------
#
# Five stratified folds, the same grid of ``C`` and two ``l1_ratios`` (the
# lasso and an even elastic net): ten paths, then a refit on all the data at
# the best pair.

cv = SoftmaxRegressionCV(Cs=Cs, l1_ratios=[0.5, 1.0], cv=5, tol=1e-6).fit(X, y)
print(f"C_ = {cv.C_:.3g}, l1_ratio_ = {cv.l1_ratio_}")
print(
    f"{np.count_nonzero(cv.coef_)} of {cv.coef_.size} coefficients are non-zero; "
    f"mean held-out log-loss {-cv.scores_.mean(axis=0).max():.3f}"
)

# %%
# The figure
# ----------
#
# Coefficients are coloured by class. The dotted line is the ``C`` chosen by
# cross-validation (with its ``l1_ratio``), the dashed one the best ``C`` of
# the single split's lasso path.

fig, axes = plt.subplots(3, 1, figsize=(7, 9), sharex=True)
colors = plt.get_cmap("tab10").colors
for k, name in enumerate(data.target_names):
    axes[0].plot(Cs, coefs[:, k, :], color=colors[k], lw=1)
    axes[0].plot([], [], color=colors[k], label=name)
axes[0].set_ylabel("coefficient")
axes[0].legend(loc="upper left", fontsize="small")
axes[1].plot(Cs, nonzero, marker=".")
axes[1].set_ylabel("non-zero coefficients")
axes[2].plot(Cs, held_out, marker=".")
axes[2].set_ylabel("held-out log-loss")
axes[2].set_xlabel("C (inverse penalty strength)")
best = Cs[np.argmin(held_out)]
for ax in axes:
    ax.set_xscale("log")
    ax.axvline(cv.C_, color="k", ls=":", lw=1)
    ax.axvline(best, color="gray", ls="--", lw=1)
axes[0].set_title(f"wine, lasso path; CV chose C={cv.C_:.3g}, l1_ratio={cv.l1_ratio_}")
fig.tight_layout()
plt.show()
