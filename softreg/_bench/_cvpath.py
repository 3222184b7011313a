"""The benchmark's cross-validation and path section (``bench --cv``).

Two comparisons:

* **Cross-validated C**: :class:`~softreg.SoftmaxRegressionCV` against
  :class:`~sklearn.linear_model.LogisticRegressionCV` and against
  :class:`~sklearn.model_selection.GridSearchCV` over
  :class:`~softreg.SoftmaxRegression`, with the same grid of ``C``, the same
  folds, the same held-out log-loss and the same ``tol``. LogisticRegressionCV
  runs twice, with its default ``n_jobs=None`` (folds one after the other)
  and with ``n_jobs=-1`` (folds in processes), the latter twice: its first
  fit includes starting joblib's worker processes, the second reuses them
  as any later fit in the same session would; the fastest is the
  reference. SoftmaxRegressionCV runs with its default ``n_jobs=None``
  (paths in threads) and, after those, with ``n_jobs=-1`` in the same
  running workers. GridSearchCV runs its default ``n_jobs=None``, each
  SoftmaxRegression fit using its default threads.
* **A multinomial lasso path without cross-validation**: glmnet's Fortran
  coordinate descent (``python-glmnet``'s ``LogitNet``, ``alpha=1``,
  ``n_splits=0``, no standardisation of its own, its default tolerance)
  against SoftmaxRegressionCV on the same ``C = 1 / (lambda n)`` values
  with ``l1_ratios=[1]``, ``refit=False`` and one "split" whose training
  and held-out rows are all the rows (``cv=[(all, all)]``): a path on the
  whole data. Both sides' objectives at every ``C`` are evaluated here,
  without softreg code. When python-glmnet is not installed the section
  says so and quotes design.md's anchor (12 s at full scale).
"""

import functools
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from ._elastic import _make_enet_dense, enet_objective

GLMNET_ANCHOR_SECONDS = 12.0


def _timed(func):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = time.perf_counter()
        result = func()
        seconds = time.perf_counter() - t
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return result, seconds, converged


def _cv_dataset(scale, rng):
    """Dense 10-class data, 5000 x 100 at scale 1 (20000 x 200 is minutes)."""
    from ._datasets import _dense

    return _dense(max(500, int(5_000 * scale)), 100, 10, rng)


def run_cv(scale, seed, n_cs, n_folds, tol, max_iter, out=print):
    """Time the three ways of choosing C on one dataset; return rows."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GridSearchCV

    from .. import SoftmaxRegression, SoftmaxRegressionCV

    X, y = _cv_dataset(scale, np.random.default_rng(seed))
    Cs = np.logspace(-4, 4, n_cs)
    folds = list(StratifiedKFold(n_folds).split(X, y))
    out(
        f"\n## cross-validated C: dense {X.shape[0]}x{X.shape[1]}, "
        f"{np.unique(y).size} classes, {n_cs} C x {n_folds} folds, tol {tol:g}"
    )

    def lrcv(n_jobs):
        return LogisticRegressionCV(
            Cs=Cs,
            cv=folds,
            tol=tol,
            max_iter=max_iter,
            l1_ratios=(0,),
            scoring="neg_log_loss",
            use_legacy_attributes=False,
            n_jobs=n_jobs,
        )

    peers = {
        # scikit-learn's scorer on both sides (its log_loss clips
        # probabilities at eps; softreg's default loss does not).
        "softreg SoftmaxRegressionCV": lambda: SoftmaxRegressionCV(
            Cs=Cs, cv=folds, tol=tol, max_iter=max_iter, scoring="neg_log_loss"
        ),
        "sklearn LogisticRegressionCV": functools.partial(lrcv, n_jobs=None),
        # The first n_jobs=-1 fit also starts joblib's worker processes; the
        # second reuses them, as every later fit in a session does.
        "sklearn LogisticRegressionCV n_jobs=-1": functools.partial(lrcv, n_jobs=-1),
        "sklearn LogisticRegressionCV n_jobs=-1, workers running": functools.partial(
            lrcv, n_jobs=-1
        ),
        # Its paths in joblib's workers too, which the rows above started.
        "softreg SoftmaxRegressionCV n_jobs=-1, workers running": lambda: (
            SoftmaxRegressionCV(
                Cs=Cs,
                cv=folds,
                tol=tol,
                max_iter=max_iter,
                scoring="neg_log_loss",
                n_jobs=-1,
            )
        ),
        "GridSearchCV(SoftmaxRegression)": lambda: GridSearchCV(
            SoftmaxRegression(tol=tol, max_iter=max_iter),
            {"C": list(Cs)},
            cv=folds,
            scoring="neg_log_loss",
        ),
    }
    rows = []
    for name, make in peers.items():
        model, seconds, converged = _timed(lambda make=make: make().fit(X, y))
        if hasattr(model, "best_params_"):
            C, scores = model.best_params_["C"], None
            fits = len(Cs) * n_folds + 1
        else:
            C, scores = model.C_, model.scores_
            fits = int(np.size(model.n_iter_)) + 1
        rows.append(
            {
                "estimator": name,
                "fit": seconds,
                "C": float(C),
                "scores": scores,
                "fits": fits,
                "notes": [] if converged else ["ConvergenceWarning"],
            }
        )
        out(f"  {name:40s} {seconds:8.2f}s  C_ {float(C):.4g}")
    ours = rows[0]
    for r in rows:
        r["speedup"] = r["fit"] / ours["fit"]
        if r["scores"] is not None and r is not ours:
            r["score diff"] = float(np.abs(r["scores"] - ours["scores"]).max())
    return rows


def _glmnet():
    try:
        from glmnet import LogitNet
    except ImportError:
        return None
    return LogitNet


def run_lasso_path(scale, seed, n_lambda, tol, max_iter, out=print):
    """glmnet's multinomial lasso path against softreg's on the same C values."""
    from .. import SoftmaxRegressionCV

    X, y = _make_enet_dense(scale, np.random.default_rng(seed))
    n = X.shape[0]
    out(
        f"\n## lasso path: dense {n}x{X.shape[1]} standardised, "
        f"{np.unique(y).size} classes, {n_lambda} lambdas"
    )
    result = {"n": n, "p": X.shape[1], "notes": []}
    LogitNet = _glmnet()
    if LogitNet is not None:
        net = LogitNet(alpha=1.0, n_lambda=n_lambda, n_splits=0, standardize=False)
        net, seconds, _ = _timed(lambda: net.fit(X, y))
        lambdas = np.asarray(net.lambda_path_)
        result["glmnet"] = seconds
        glm_obj = [
            enet_objective(
                net.coef_path_[:, :, k], net.intercept_path_[:, k], X, y, C, 1.0
            )
            for k, C in enumerate(1.0 / (lambdas * n))
        ]
        out(f"  glmnet LogitNet       {seconds:8.2f}s  {lambdas.size} lambdas")
    else:
        # glmnet's default sequence: lambda_max down to 1e-4 lambda_max (n > p);
        # lambda_max is where the lasso first keeps a feature.
        Y = np.eye(np.unique(y).size)[np.searchsorted(np.unique(y), y)]
        lam_max = np.abs(X.T @ (Y - Y.mean(axis=0))).max() / n
        lambdas = lam_max * np.logspace(0, -4, n_lambda)
        result["notes"].append(
            "python-glmnet not installed: compared with design.md's anchor "
            f"({GLMNET_ANCHOR_SECONDS:g} s at 20000x200)"
        )
        glm_obj = None
    Cs = 1.0 / (lambdas * n)
    everything = np.arange(n)
    path = SoftmaxRegressionCV(
        Cs=Cs,
        l1_ratios=[1.0],
        cv=[(everything, everything)],
        refit=False,
        tol=tol,
        max_iter=max_iter,
    )
    path, seconds, converged = _timed(lambda: path.fit(X, y))
    result["softreg"] = seconds
    result["n_lambda"] = lambdas.size
    result["iterations"] = int(path.n_iter_.sum())
    if not converged:
        result["notes"].append("softreg: ConvergenceWarning")
    coefs = path.coefs_paths_[0, 0]
    ours = [
        enet_objective(coefs[k, :, :-1], coefs[k, :, -1], X, y, C, 1.0)
        for k, C in enumerate(Cs)
    ]
    result["nnz_last"] = int(np.count_nonzero(coefs[-1, :, :-1]))
    if glm_obj is not None:
        gaps = (np.array(ours) - np.array(glm_obj)) / np.abs(glm_obj)
        result["worst gap"] = float(gaps.max())
        result["best gap"] = float(gaps.min())
        result["speedup"] = result["glmnet"] / seconds
    else:
        result["speedup"] = GLMNET_ANCHOR_SECONDS * scale / seconds
    out(
        f"  softreg path          {seconds:8.2f}s  {result['iterations']} iterations"
        f" in all, nnz at the weakest penalty {result['nnz_last']}"
    )
    return result


def cv_path_report(cv_rows, lasso, settings):
    """The section as markdown."""
    lines = ["## Cross-validation and paths\n"]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    if cv_rows:
        lines += [
            "",
            "### Choosing C by cross-validation (goals: >= 5x LogisticRegressionCV, "
            ">= 3x GridSearchCV)\n",
            "| method | fit (s) | time / SoftmaxRegressionCV's | fits | C chosen "
            "| max abs. held-out score difference | notes |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in cv_rows:
            diff = r.get("score diff")
            lines.append(
                f"| {r['estimator']} | {r['fit']:.2f} | {r['speedup']:.1f}x "
                f"| {r['fits']} | {r['C']:.4g} "
                f"| {'' if diff is None else f'{diff:.1e}'} | {'; '.join(r['notes'])} |"
            )
    if lasso:
        lines += [
            "",
            "### Multinomial lasso path, no cross-validation (goal: faster than "
            "glmnet)\n",
            "| data | lambdas | glmnet LogitNet (s) | softreg path (s) | speed-up "
            "| objective gap to glmnet, worst / best | notes |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        glm = lasso.get("glmnet")
        gap = ""
        if "worst gap" in lasso:
            gap = f"{lasso['worst gap']:+.1e} / {lasso['best gap']:+.1e}"
        lines.append(
            f"| dense {lasso['n']}x{lasso['p']} | {lasso['n_lambda']} "
            f"| {'' if glm is None else f'{glm:.2f}'} | {lasso['softreg']:.2f} "
            f"| {lasso['speedup']:.1f}x | {gap} | {'; '.join(lasso['notes'])} |"
        )
    return "\n".join(lines) + "\n"


def run_section(args, out=print):
    """Run the section with the command line's settings; return markdown."""
    settings = {
        "tol": f"{args.tol:g} for every fit (softreg: largest gradient entry, or "
        "optimality violation under L1; glmnet: its default)",
        "scale": args.scale,
        "grid": f"{args.cv_cs} values of C log-spaced in [1e-4, 1e4], "
        f"{args.cv_folds} stratified folds, held-out log-loss",
        "BLAS": "scikit-learn's own threads; softreg keeps BLAS to one thread",
    }
    cv_rows = run_cv(
        args.scale, args.seed, args.cv_cs, args.cv_folds, args.tol, args.max_iter,
        out,
    )  # fmt: skip
    lasso = run_lasso_path(
        args.scale, args.seed, args.n_lambda, args.tol, args.max_iter, out
    )
    return cv_path_report(cv_rows, lasso, settings)
