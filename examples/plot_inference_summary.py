"""
================================================
Standard errors and a summary beside statsmodels
================================================

:meth:`~softreg.SoftmaxRegression.summary`,
:meth:`~softreg.SoftmaxRegression.coef_table` and
:meth:`~softreg.SoftmaxRegression.inference` give the standard errors, Wald
tests and confidence intervals of a fitted softmax regression (see
:ref:`inference`). Without a penalty they are those of statsmodels'
``MNLogit``; this example fits both on three chemical measurements of the
wine data and puts the two tables side by side.
"""

# %%
# The unpenalised fit
# -------------------
#
# ``C=np.inf`` is the maximum-likelihood fit, and a tight ``tol`` puts it at
# the optimum to about 1e-10, so that the Hessian there is the observed
# information. Column names of the DataFrame become the feature names.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.datasets import load_wine

from softreg import SoftmaxRegression

wine = load_wine(as_frame=True)
X = wine.data[["alcohol", "malic_acid", "ash"]]
y = wine.target

clf = SoftmaxRegression(C=np.inf, tol=1e-10, solver="trust-ncg").fit(X, y)
print(clf.summary(X, y))

# %%
# The same model in statsmodels, whose reference class is also the first one:

mnlogit = sm.MNLogit(y, sm.add_constant(X)).fit(disp=0, method="newton")
print(mnlogit.summary())

# %%
# Largest relative differences between the two, over all parameters:

res = clf.inference(X, y)
pairs = {
    "coef": (res.params, mnlogit.params.T),
    "std err": (res.bse, mnlogit.bse.T),
    "z": (res.zvalues, mnlogit.tvalues.T),
    "p-value": (res.pvalues, mnlogit.pvalues.T),
    "log-likelihood": (res.llf, mnlogit.llf),
}
print(
    pd.Series(
        {
            name: np.max(np.abs(np.asarray(a) - np.asarray(b)) / np.abs(np.asarray(b)))
            for name, (a, b) in pairs.items()
        },
        name="max relative difference",
    ).to_string()
)

# %%
# The robust (sandwich) covariance is statsmodels' ``cov_type="HC0"``:

robust = clf.inference(X, y, cov_type="HC0")
mnlogit_hc0 = sm.MNLogit(y, sm.add_constant(X)).fit(
    disp=0, method="newton", cov_type="HC0"
)
print(
    "max relative difference of the HC0 standard errors:",
    f"{np.max(np.abs(robust.bse - mnlogit_hc0.bse.T) / mnlogit_hc0.bse.T):.1e}",
)

# %%
# A tidy table
# ------------
#
# :meth:`~softreg.SoftmaxRegression.coef_table` returns one row per class and
# parameter, ready for filtering and plotting. Here it sits next to a
# penalised fit (``C=0.05``), whose intervals come from the penalised
# Hessian: the penalty pulls the coefficients towards zero and narrows the
# intervals (read them as approximate posterior intervals under the Gaussian
# prior the penalty stands for, not as frequentist confidence intervals).

table = clf.coef_table(X, y)
print(table.round(3).to_string(index=False))
penalised = SoftmaxRegression(C=0.05, tol=1e-10).fit(X, y).coef_table(X, y)

fig, ax = plt.subplots(figsize=(6, 3.5))
labels = [f"{c}: {f}" for c, f in zip(table["class"], table["feature"], strict=True)]
positions = np.arange(len(table))
for offset, frame, name in [(-0.15, table, "C=inf"), (0.15, penalised, "C=0.05")]:
    ax.errorbar(
        frame["coef"],
        positions + offset,
        xerr=[frame["coef"] - frame["ci_low"], frame["ci_high"] - frame["coef"]],
        fmt="o",
        capsize=3,
        label=name,
    )
ax.axvline(0, color="grey", lw=0.8)
ax.set_yticks(positions, labels)
ax.invert_yaxis()
ax.set_xlabel("coefficient against class 0, with 95% interval")
ax.legend()
fig.tight_layout()
plt.show()
