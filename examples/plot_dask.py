"""
Fitting on Dask arrays: the same model, the data where it lives
================================================================

:class:`~softreg.SoftmaxRegression` fits and predicts on Dask arrays and
dataframes with the same objective and the same answers as in memory. Every
pass over the data is one task per row chunk (scores, normalizer and
``X_c^T R_c``, the same block code as in memory) and a tree of additions of
the small results: only the parameters travel to the workers, only the
gradient comes back.

This example starts a small :class:`distributed.LocalCluster` (two workers;
on a real cluster, ``Client("scheduler-address:8786")`` instead), fits a
10-class model on data generated on the workers, compares it with the
in-memory fit, and counts the passes each solver needs. On a cluster each
pass pays a round trip through the scheduler, so the solver needing the
fewest passes wins: here, well-conditioned data at a moderate ``tol``,
L-BFGS; at tight tolerances or on badly conditioned data, the Newton
solvers (see the user guide's "Beyond one machine" page).
"""

# %%
# A cluster and data generated on it
# ----------------------------------
import time

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

from softreg import SoftmaxRegression

# Threads keep the docs build light; processes=True gives separate worker
# processes, as on a real cluster.
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False)
client = Client(cluster)

n, p, k = 200_000, 20, 10
rng = np.random.default_rng(0)
W = rng.normal(scale=3 / np.sqrt(p), size=(p, k))
X = da.random.default_rng(0).standard_normal((n, p), chunks=(20_000, p))


def draw_labels(Xc, block_info=None):
    # Labels of a multinomial logit model, drawn chunk by chunk (Gumbel-max).
    chunk = block_info[0]["chunk-location"][0]
    g = np.random.default_rng([1, chunk]).gumbel(size=(Xc.shape[0], k))
    return np.argmax(Xc @ W + g, axis=1)


y = X.map_blocks(draw_labels, drop_axis=1, dtype=np.int64)
# Persisting keeps the chunks in the workers' memory between passes; without
# it every pass recomputes them from their source (here the generator; a
# zarr store or parquet files in general), which works, streaming.
X, y = dask.persist(X, y)

# %%
# Fit on Dask, fit in memory, compare
# -----------------------------------
# ``n_passes_`` counts the passes over the data: the first one collects the
# classes, the weight totals and the standardising statistics; every other
# one is a loss-and-gradient or a Hessian-vector product.
results = {}
for solver in ["lbfgs", "newton-cg", "trust-ncg"]:
    start = time.perf_counter()
    model = SoftmaxRegression(C=1.0, tol=1e-6, solver=solver).fit(X, y)
    results[solver] = (model, time.perf_counter() - start)
    print(f"{solver:10s} {model.n_passes_:3d} passes, {results[solver][1]:.2f} s")

X_local, y_local = dask.compute(X, y)
local = SoftmaxRegression(C=1.0, tol=1e-6).fit(X_local, y_local)
dask_model = results["lbfgs"][0]
print(
    "largest |coef_ difference| from the in-memory fit:",
    f"{np.abs(dask_model.coef_ - local.coef_).max():.1e}",
)

# %%
# Predictions are lazy Dask arrays with the input's row chunks; computing
# them runs one task per chunk. The fitted model itself is an ordinary one:
# numpy ``coef_``, picklable without a cluster, and it predicts on numpy too.
proba = dask_model.predict_proba(X)
print(type(proba).__name__, proba.chunks[0][:3], "...")
print("accuracy:", dask_model.score(X, y))

# %%
# Passes per solver
# -----------------
fig, ax = plt.subplots(figsize=(6, 3))
names = list(results)
ax.bar(names, [results[s][0].n_passes_ for s in names], color="tab:blue")
ax.set_ylabel("passes over the data")
ax.set_title("Passes to tol=1e-6 (200,000 x 20, 10 classes)")
fig.tight_layout()

client.close()
cluster.close()
