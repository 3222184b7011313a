"""
===========================================
Why softmax, and not a division by the sum?
===========================================

Two ways to turn class scores into probabilities:

* the **softmax**, :math:`p_k = e^{z_k} / \\sum_j e^{z_j}`;
* **standard normalization**, which shifts the scores to be positive if
  needed and divides them by their sum
  (:class:`~softreg.normalizers.Standard`).

The first part repeats the classic "blurry versus crisp image" comparison:
scores ``[1, 2]`` from a weak signal and ``[10, 20]`` from a strong one.
The second part divides the scores by a temperature :math:`T` and follows
the probabilities from :math:`T \\to 0` (the arg max) to
:math:`T \\to \\infty` (the uniform distribution). See
:ref:`why_exp` and :ref:`temperature` for the derivations.
"""

# %%
# Blurry and crisp
# ----------------
#
# Standard normalization sees (almost) only the *ratio* of the two scores,
# and it is 2 in both cases: its small constant ``eps`` (0.1) moves the
# blurry case from 1/3 to 0.344 and the crisp one to 0.334. The softmax sees
# the *difference*, 1 in one case and 10 in the other, and becomes confident
# when the evidence is strong.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from softreg.normalizers import Softmax, Standard

softmax, standard = Softmax(), Standard()
scores = {"blurry [1, 2]": [1.0, 2.0], "crisp [10, 20]": [10.0, 20.0]}

rows = []
for label, z in scores.items():
    Z = np.array([z])
    for name, normalizer in [("softmax", softmax), ("standard", standard)]:
        p = normalizer(Z)[0]
        rows.append({"scores": label, "normalizer": name, "p(0)": p[0], "p(1)": p[1]})
table = pd.DataFrame(rows)
with pd.option_context("display.float_format", "{:.6g}".format):
    print(table.to_string(index=False))

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True, layout="constrained")
width = 0.38
for ax, (label, z) in zip(axes, scores.items(), strict=True):
    Z = np.array([z])
    for offset, (name, normalizer) in zip(
        (-width / 2, width / 2),
        [("softmax", softmax), ("standard", standard)],
        strict=True,
    ):
        p = normalizer(Z)[0]
        bars = ax.bar(np.arange(2) + offset, p, width, label=name)
        ax.bar_label(bars, fmt="%.5g", padding=2, fontsize=8)
    ax.set(title=f"scores {label}", xticks=[0, 1], xticklabels=["class 0", "class 1"])
    ax.set_ylim(0, 1.12)
axes[0].set_ylabel("probability")
axes[0].legend(loc="upper left")
fig.suptitle("The same ratio, ten times the margin")
plt.show()

# %%
# Negative scores
# ---------------
#
# Scores of a linear model are unbounded reals. A plain division by the sum
# is undefined when they sum to zero; standard normalization has to shift
# them first, and the softmax needs no special case.

z = np.array([[-2.0, -1.0, 1.0, 2.0]])
with np.errstate(divide="ignore", invalid="ignore"):
    print("z / z.sum():      ", z / z.sum(axis=1, keepdims=True))
print("standard:         ", standard(z).round(4))
print("softmax:          ", softmax(z).round(4))

# %%
# From arg max to uniform: the temperature
# ----------------------------------------
#
# Dividing the scores by :math:`T` leaves their order alone. For the
# softmax, a small :math:`T` concentrates all probability on the largest
# score and a large :math:`T` spreads it evenly; :math:`T = 1` is the
# "softened maximum" in between. Standard normalization is scale invariant
# for scores large against its ``eps``: a small :math:`T` only takes it to
# the ratio of the shifted scores, never to the arg max, and a large
# :math:`T` makes it uniform too.

z = np.array([[0.5, 1.0, 2.0, 2.5]])
temperatures = np.logspace(-2, 2, 201)
curves = {
    name: np.vstack([normalizer(z / T)[0] for T in temperatures])
    for name, normalizer in [("softmax", softmax), ("standard", standard)]
}
for T in (0.01, 1.0, 100.0):
    print(f"T={T:<6g} softmax {softmax(z / T)[0].round(3)}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
for ax, (name, P) in zip(axes, curves.items(), strict=True):
    for k in range(z.shape[1]):
        ax.plot(temperatures, P[:, k], label=f"z = {z[0, k]:g}")
    ax.axhline(1 / z.shape[1], color="grey", ls=":", lw=1)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set(xscale="log", xlabel="temperature T", title=f"{name}(z / T)")
axes[0].set_ylabel("probability")
axes[0].annotate("arg max", (0.012, 0.93), fontsize=9)
axes[0].annotate("uniform", (20, 0.29), fontsize=9)
axes[1].legend(loc="center right", fontsize=8)
plt.show()
