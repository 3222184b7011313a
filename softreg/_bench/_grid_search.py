"""Timings of issue 19: grid search, small-data fits, SoftmaxRegressionCV.

Each call times one configuration in a fresh process, so that builds can be
alternated run by run (select one with PYTHONPATH)::

    python -m softreg._bench._grid_search gs softreg digits None 4
    python -m softreg._bench._grid_search gs lr1 big -1 4
    python -m softreg._bench._grid_search small 7
    python -m softreg._bench._grid_search cv softreg 2
    python -m softreg._bench._grid_search cv lrcv1 2

``gs``: GridSearchCV(estimator, {"C": np.logspace(-3, 3, 7)}, cv=5) at the
default tol on standardised digits or 20000 x 100 (10 classes); ``softreg``
is SoftmaxRegression(), ``lr1`` LogisticRegression(max_iter=1000) with
BLAS at one thread (threadpoolctl), ``lr`` with its default BLAS threads.
The first repetition also starts joblib's workers (n_jobs=-1) and is left
out of the median. ``small``: best-of-N single fits on standardised iris,
wine, breast_cancer and digits, each model's fits after an untimed one.
``cv``: SoftmaxRegressionCV against
LogisticRegressionCV (Cs=10, cv=5, tol=1e-6, neg_log_loss) on 20000 x 100;
``softreg`` at n_jobs=None (threads), ``softreg-1`` at n_jobs=-1 (worker
processes); ``lrcv1`` with one BLAS thread, ``lrcv-1`` with n_jobs=-1. The
n_jobs=-1 medians leave out the first fit, which starts the workers.
``scores_`` is saved to ``softreg_cv_scores_<which>.npy`` in the temporary
directory, for comparing runs.
"""

import contextlib
import os
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from softreg import SoftmaxRegression
from softreg._bench._datasets import _dense


def _timed_fit(model, X, y, one_blas_thread=False):
    """Seconds of ``model.fit(X, y)``, with BLAS at one thread if asked."""
    start = time.perf_counter()
    if one_blas_thread:
        with threadpool_limits(1, user_api="blas"):
            model.fit(X, y)
    else:
        model.fit(X, y)
    return time.perf_counter() - start


def _data(name):
    from sklearn import datasets

    if name == "big":
        X, y = _dense(20000, 100, 10, np.random.default_rng(0))
    else:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def grid_search(which, data, n_jobs, reps):
    X, y = _data(data)
    n_jobs = None if n_jobs == "None" else int(n_jobs)
    grid = {"C": np.logspace(-3, 3, 7)}
    if which == "softreg":
        est = SoftmaxRegression()
    else:
        est = LogisticRegression(max_iter=1000)
    times = []
    for _ in range(int(reps)):
        search = GridSearchCV(est, grid, cv=5, n_jobs=n_jobs)
        times.append(_timed_fit(search, X, y, one_blas_thread=which == "lr1"))
    kept = times[1:] if len(times) > 2 else times
    print(
        f"gs {which} {data} n_jobs={n_jobs} times "
        + " ".join(f"{t:.3f}" for t in times)
        + f" median {np.median(kept):.3f} best C {search.best_params_['C']:g}"
    )


def small(reps):
    def fit(make, X, y, one_blas_thread=False):
        # The limit is set outside the timing, as a user sets it once.
        limit = contextlib.nullcontext()
        if one_blas_thread:
            limit = threadpool_limits(1, user_api="blas")
        with limit:
            start = time.perf_counter()
            model = make().fit(X, y)
            return (time.perf_counter() - start) * 1e3, model

    def best(make, X, y, one_blas_thread=False):
        # An untimed fit first: the first fits in a process pay for lazy
        # imports and caches that later ones reuse. Each model's fits run
        # together: interleaved, each fit slowed the next (LR's BLAS threads
        # spin on after a product; threadpool limits wake them).
        times = [fit(make, X, y, one_blas_thread) for _ in range(int(reps) + 1)]
        return min(t for t, _ in times[1:]), times[-1][1]

    for name in ["iris", "wine", "breast_cancer", "digits"]:
        X, y = _data(name)
        t_sr, sr = best(SoftmaxRegression, X, y)
        t_lr, lr = best(LogisticRegression, X, y)
        t_lr1, _ = best(LogisticRegression, X, y, one_blas_thread=True)
        print(
            f"small {name:14s} softreg {t_sr:6.2f} ms ({sr.n_iter_} it)  "
            f"LR {t_lr:7.2f} ms, one BLAS thread {t_lr1:6.2f} ms "
            f"({lr.n_iter_[0]} it)  ratio {t_sr / min(t_lr, t_lr1):.2f}"
        )


def cv(which, reps):
    from softreg import SoftmaxRegressionCV

    X, y = _data("big")
    Cs = np.logspace(-4, 4, 10)
    folds = list(StratifiedKFold(5).split(X, y))
    times = []
    for _ in range(int(reps)):
        if which.startswith("softreg"):
            model = SoftmaxRegressionCV(
                Cs=Cs,
                cv=folds,
                tol=1e-6,
                scoring="neg_log_loss",
                n_jobs=-1 if which == "softreg-1" else None,
            )
        else:
            model = LogisticRegressionCV(
                Cs=Cs,
                cv=folds,
                tol=1e-6,
                max_iter=1000,
                l1_ratios=(0,),
                scoring="neg_log_loss",
                use_legacy_attributes=False,
                n_jobs=-1 if which == "lrcv-1" else None,
            )
        times.append(_timed_fit(model, X, y, one_blas_thread=which == "lrcv1"))
    # For comparing scores_ between runs, outside the working directory.
    path = os.path.join(tempfile.gettempdir(), f"softreg_cv_scores_{which}.npy")
    np.save(path, np.asarray(model.scores_).ravel())
    # With n_jobs=-1 the first fit also starts joblib's worker processes.
    kept = times[1:] if which.endswith("-1") and len(times) > 2 else times
    print(
        f"cv {which} times " + " ".join(f"{t:.2f}" for t in times),
        f"median {np.median(kept):.2f} C_ {float(np.ravel(model.C_)[0]):g}",
    )


if __name__ == "__main__":
    # Fits at the default tol may stop at max_iter on both sides; only the
    # time is measured here.
    warnings.simplefilter("ignore", ConvergenceWarning)
    command, *args = sys.argv[1:]
    {"gs": grid_search, "small": small, "cv": cv}[command](*args)
