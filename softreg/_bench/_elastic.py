"""The benchmark's elastic-net section: one C, softreg against sklearn's saga.

scikit-learn's only multinomial L1 / elastic-net solver is ``saga``. Both
are fitted with the same ``C`` and ``l1_ratio``, each with its own ``tol``:
their stopping tests differ (softreg's is the largest optimality violation,
saga's the largest relative change of the weights over an epoch), and saga
keeps its default 1e-4. They are compared on the fit time and on the
objective each reaches, computed here without softreg code: scikit-learn's
``LinearModelLoss`` (data term and the L2 part) plus the L1 part.
"""

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from ._datasets import _dense, _labels


def _make_enet_dense(scale, rng):
    # design.md's anchor: 20000 x 200 standardised, 10 classes.
    X, y = _dense(max(300, int(20_000 * scale)), 200, 10, rng)
    return StandardScaler().fit_transform(X), y


def _make_enet_sparse(scale, rng):
    n, p, k, density = max(300, int(20_000 * scale)), 2000, 10, 0.01
    X = sp.random(
        n, p, density=density, format="csr", random_state=rng,
        data_rvs=rng.standard_normal,
    )  # fmt: skip
    # A sparse truth: a tenth of the features matter.
    Wt = rng.standard_normal((p, k)) * (rng.uniform(size=(p, 1)) < 0.1)
    y = _labels(rng, np.asarray(X @ Wt) * (3.0 / np.sqrt(density * p * 0.1)))
    return X, y


#: name -> (description at scale 1, builder(scale, rng) -> (X, y)).
ENET_DATASETS = {
    "enet-dense": (
        "dense float64 20000x200 standardised, 10 classes",
        _make_enet_dense,
    ),
    "enet-sparse": ("sparse CSR 20000x2000, 1% density, 10 classes", _make_enet_sparse),
}


def enet_objective(coef, intercept, X, y, C, l1_ratio):
    """scikit-learn 1.9's elastic-net objective at ``(coef, intercept)``.

    ``LinearModelLoss(HalfMultinomialLoss)`` with ``l2_reg_strength =
    (1 - r) / (C n)``, plus ``r ||coef||_1 / (C n)``.
    """
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    classes = np.unique(y)
    coef = coef.toarray() if sp.issparse(coef) else np.asarray(coef)
    params = np.hstack([coef, np.asarray(intercept)[:, None]]).astype(np.float64)
    loss = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=classes.size), fit_intercept=True
    )
    n = X.shape[0]
    y_enc = np.searchsorted(classes, y).astype(np.float64)
    smooth = loss.loss(params, X, y_enc, l2_reg_strength=(1 - l1_ratio) / (C * n))
    return float(smooth + l1_ratio * np.abs(coef).sum() / (C * n))


def _estimators(C, l1_ratio, tol, saga_tol, max_iter, saga_max_iter):
    from sklearn.linear_model import LogisticRegression

    from .. import SoftmaxRegression

    return {
        "softreg lbfgs": SoftmaxRegression(
            C=C, l1_ratio=l1_ratio, tol=tol, max_iter=max_iter
        ),
        "sklearn saga": LogisticRegression(
            solver="saga",
            C=C,
            l1_ratio=l1_ratio,
            tol=saga_tol,
            max_iter=saga_max_iter,
        ),
    }


def run_elastic_net(
    datasets, scale, seed, C, l1_ratio, tol, saga_tol, max_iter, saga_max_iter,
    out=print,
):  # fmt: skip
    """Fit both peers on each dataset; return the rows and print progress.

    Returns
    -------
    rows : list of dict
        ``dataset``, ``estimator``, ``fit`` (s), ``n_iter``, ``objective``,
        ``nnz`` (non-zero coefficients), ``notes``, and ``gap`` (relative to
        saga's objective) and ``speedup`` (saga's time over softreg's).
    described : dict
        Dataset name -> description of the generated data.
    """
    rows, described = [], {}
    for ds in datasets:
        X, y = ENET_DATASETS[ds][1](scale, np.random.default_rng(seed))
        kind = "CSR" if sp.issparse(X) else "dense"
        described[ds] = (
            f"{kind} {X.dtype} {X.shape[0]}x{X.shape[1]}, {np.unique(y).size} classes"
        )
        out(f"\n## {ds}: {described[ds]}, C={C:g}, l1_ratio={l1_ratio:g}")
        peers = _estimators(C, l1_ratio, tol, saga_tol, max_iter, saga_max_iter)
        for name, model in peers.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t = time.perf_counter()
                model.fit(X, y)
                seconds = time.perf_counter() - t
            notes = []
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                notes.append("not converged (ConvergenceWarning)")
            row = {
                "dataset": ds,
                "estimator": name,
                "fit": seconds,
                "n_iter": int(np.max(model.n_iter_)),
                "objective": enet_objective(
                    model.coef_, model.intercept_, X, y, C, l1_ratio
                ),
                "nnz": int(np.count_nonzero(model.coef_)),
                "size": int(np.size(model.coef_)),
                "notes": notes,
            }
            rows.append(row)
            out(
                f"  {name:14s} fit {seconds:8.2f}s  iter {row['n_iter']:>6}  "
                f"obj {row['objective']:.12f}  nnz {row['nnz']}/{row['size']}  "
                f"{'; '.join(notes)}"
            )
        ref = next(r for r in rows if r["dataset"] == ds and "saga" in r["estimator"])
        for r in rows:
            if r["dataset"] == ds:
                r["gap"] = (r["objective"] - ref["objective"]) / abs(ref["objective"])
                r["speedup"] = ref["fit"] / r["fit"]
    return rows, described


def elastic_net_table(rows, settings, described):
    """The section as markdown."""
    lines = [
        "## Elastic net: one C against scikit-learn's saga\n",
        "Same C and l1_ratio on both sides, tol as listed; the objective is "
        "scikit-learn's elastic-net objective evaluated without softreg code "
        "(LinearModelLoss plus the L1 term); gap is relative to saga's; "
        "speedup is saga's fit time over this one's. Goal: softreg >= 10x "
        "faster at a gap <= 0.\n",
    ]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    lines += [f"- {k}: {v}" for k, v in described.items()]
    lines += [
        "",
        "| dataset | estimator | fit (s) | iter | objective | gap vs saga | "
        "non-zeros | speedup | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['estimator']} | {r['fit']:.2f} | {r['n_iter']} | "
            f"{r['objective']:.10f} | {r['gap']:+.1e} | {r['nnz']}/{r['size']} | "
            f"{r['speedup']:.1f}x | {'; '.join(r['notes'])} |"
        )
    return "\n".join(lines) + "\n"
