"""``python -m softreg bench``: SoftmaxRegression beside scikit-learn, same data.

For every dataset of the grid it fits, in this one process and one after the
other, :class:`~softreg.SoftmaxRegression` with each of its solvers and
:class:`~sklearn.linear_model.LogisticRegression` with ``lbfgs``,
``newton-cg`` and ``newton-cholesky`` (plus scikit-learn-intelex's patched
LogisticRegression when that package is installed), all with the same ``C``,
``tol`` and ``max_iter``, and reports for each fit:

* the wall-clock fit time and the solver's iteration count;
* the final objective, computed independently of softreg with
  scikit-learn's own ``LinearModelLoss`` and ``HalfMultinomialLoss`` in
  float64 (the same objective on both sides for three or more classes), and
  its relative gap to the best scikit-learn objective on that dataset;
* the time of ``predict_proba`` on the training data (best of three);
* the peak memory of the fit (see ``--memory``).

and, per dataset, the time of one softreg loss-and-gradient evaluation (and
one Hessian-vector product) beside the two plain products ``X @ W.T`` and
``R.T @ X`` that any such evaluation needs, and scikit-learn's own
``LinearModelLoss.loss_gradient``.

Run ``python -m softreg bench --help`` for the options. The benchmark never
raises on a failing peer: a fit that errors is reported as such, and
``newton-cholesky`` is skipped, with a note, when its dense Hessian would
not fit in memory (scikit-learn would die of a segfault rather than raise).
"""

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
import warnings

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning

from ._solvers import SOLVERS, available_memory

# Default tolerance of every solver in the benchmark (see --help): tight
# enough that the objectives reached by the different methods agree to
# about 1e-7 relative, the precision at which the targets compare them.
DEFAULT_TOL = 1e-6
DEFAULT_MAX_ITER = 300
_MIB = 1 << 20


# ----------------------------------------------------------------------------
# Data


def _labels(rng, logits):
    """Labels drawn from the softmax of ``logits`` (Gumbel-max trick)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _dense(n, p, k, rng, spread=1.5):
    X = rng.standard_normal((n, p))
    Wt = rng.standard_normal((p, k)) * (spread / np.sqrt(p))
    y = _labels(rng, X @ Wt + 0.5 * rng.standard_normal(k))
    return X, y


def _make_dense64(scale, rng):
    return _dense(max(200, int(200_000 * scale)), 100, 10, rng)


def _make_dense32(scale, rng):
    X, y = _make_dense64(scale, rng)
    return X.astype(np.float32), y


def _make_tall(scale, rng):
    X, y = _dense(max(200, int(500_000 * scale)), 20, 5, rng)
    # A few raw, badly scaled columns, as in unpreprocessed data: a large
    # unit, a tiny unit, and a large offset with a moderate spread.
    X[:, 0] *= 1e3
    X[:, 1] *= 1e-2
    X[:, 2] = 500.0 + 30.0 * X[:, 2]
    return X, y


def _make_sparse(scale, rng):
    n = max(200, int(50_000 * scale))
    p = max(500, int(20_000 * min(1.0, scale)))
    density = 0.005
    X = sp.random(
        n,
        p,
        density=density,
        format="csr",
        random_state=rng,
        data_rvs=rng.standard_normal,
    )
    Wt = rng.standard_normal((p, 20)) * (2.0 / np.sqrt(density * p))
    y = _labels(rng, np.asarray(X @ Wt))
    return X, y


def _make_classes(scale, rng):
    return _dense(max(1000, int(50_000 * scale)), 100, 100, rng)


#: name -> (description at scale 1, builder(scale, rng) -> (X, y)).
DATASETS = {
    "dense64": ("dense float64 200000x100, 10 classes", _make_dense64),
    "dense32": ("dense float32 200000x100, 10 classes", _make_dense32),
    "tall": ("tall float64 500000x20, 5 classes, 3 badly scaled columns", _make_tall),
    "sparse": ("sparse CSR 50000x20000, 0.5% density, 20 classes", _make_sparse),
    "classes": ("dense float64 50000x100, 100 classes", _make_classes),
}


def make_dataset(name, scale=1.0, seed=0):
    """The benchmark's dataset ``name`` with its row count times ``scale``.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    scale : float, default=1.0
        Multiplies the number of rows (and, below 1, the sparse dataset's
        number of columns), for quick runs.
    seed : int, default=0

    Returns
    -------
    X : ndarray or csr_matrix
    y : ndarray of int

    Examples
    --------
    >>> from softreg._bench import make_dataset
    >>> X, y = make_dataset("tall", scale=0.001)
    >>> X.shape, sorted(set(y)) == [0, 1, 2, 3, 4]
    ((500, 20), True)
    """
    return DATASETS[name][1](scale, np.random.default_rng(seed))


def _describe(X, y):
    kind = "CSR" if sp.issparse(X) else "dense"
    density = f", {100 * X.nnz / np.prod(X.shape):.2g}% nnz" if sp.issparse(X) else ""
    return (
        f"{kind} {X.dtype} {X.shape[0]}x{X.shape[1]}{density}, "
        f"{np.unique(y).size} classes"
    )


# ----------------------------------------------------------------------------
# Estimators


def _sklearnex_available():
    return importlib.util.find_spec("sklearnex") is not None


def estimator_names(include_sklearnex=True):
    """Names of the benchmarked fits, softreg's first."""
    names = [f"softreg {s}" for s in SOLVERS]
    names += [f"sklearn {s}" for s in ("lbfgs", "newton-cg", "newton-cholesky")]
    if include_sklearnex and _sklearnex_available():
        names += ["sklearnex lbfgs", "sklearnex newton-cg"]
    return names


def make_estimator(name, C, tol, max_iter, n_jobs=None):
    """A fresh estimator for one of :func:`estimator_names`."""
    lib, solver = name.split(" ", 1)
    if lib == "softreg":
        from ._estimator import SoftmaxRegression

        return SoftmaxRegression(
            C=C, tol=tol, max_iter=max_iter, solver=solver, n_jobs=n_jobs
        )
    if lib == "sklearn":
        from sklearn.linear_model import LogisticRegression
    else:
        from sklearnex.linear_model import LogisticRegression
    return LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=solver)


def skip_reason(name, X, n_classes, quick=False):
    """Why ``name`` cannot run on this data here, or None."""
    if name.endswith("newton-cholesky"):
        d = (X.shape[1] + 1) * n_classes
        if quick and d > 2000:
            return f"skipped in --quick: a {d}x{d} Hessian is no smoke test"
        # The Hessian, and the copy scipy.linalg.solve factorises.
        need = 2 * 8 * d * d
        have = available_memory()
        if have is not None and need > 0.5 * have:
            return (
                f"skipped: dense Hessian of ((n_features+1)*n_classes)^2 = {d}^2 "
                f"entries needs ~{need / (1 << 30):,.0f} GiB, "
                f"{have / (1 << 30):.0f} GiB available"
            )
    return None


def _n_iter(model):
    n = getattr(model, "n_iter_", None)
    return None if n is None else int(np.max(n))


def sklearn_objective(model, X, y, C):
    """The fitted model's objective by scikit-learn's formula, in float64.

    ``LinearModelLoss(HalfMultinomialLoss)`` with ``l2_reg_strength =
    1 / (C n)`` at ``[coef_ | intercept_]``: the objective LogisticRegression
    minimises, computed without any softreg code.
    """
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    classes = np.unique(y)
    coef = np.hstack([model.coef_, model.intercept_[:, None]]).astype(np.float64)
    loss = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=classes.size), fit_intercept=True
    )
    X64 = X.astype(np.float64) if X.dtype != np.float64 else X
    y_enc = np.searchsorted(classes, y).astype(np.float64)
    return float(loss.loss(coef, X64, y_enc, l2_reg_strength=1.0 / (C * X.shape[0])))


# ----------------------------------------------------------------------------
# Measurements


def _best_time(func, repeat):
    best = np.inf
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t)
    return best


class _SklearnexLog(logging.Handler):
    """Records whether scikit-learn-intelex ran its own code or fell back."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    @contextlib.contextmanager
    def watching(self):
        logger = logging.getLogger("sklearnex")
        saved = logger.level, logger.handlers[:], logger.propagate
        # Listen at INFO without letting sklearnex's own handlers print it.
        logger.setLevel(logging.INFO)
        logger.handlers[:] = [self]
        logger.propagate = False
        try:
            yield self
        finally:
            logger.level, logger.handlers[:], logger.propagate = saved

    def fell_back(self):
        return any("fallback" in m and ".fit" in m for m in self.messages)


def _fit(model, X, y):
    """Fit, returning (seconds, notes)."""
    notes = []
    log = _SklearnexLog()
    with warnings.catch_warnings(record=True) as caught, log.watching():
        warnings.simplefilter("always")
        t = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - t
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("not converged (ConvergenceWarning)")
    if log.fell_back():
        notes.append("sklearnex fell back to scikit-learn")
    return seconds, notes


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(field)


def _memory_child(argv):
    """Entry point of the subprocess that measures one fit's peak memory.

    Loads the saved dataset, then resets the kernel's high-water mark of the
    resident set (``/proc/self/clear_refs``), fits, and prints the peak
    resident memory above the level just before the fit, in bytes.
    """
    spec = json.loads(argv[0])
    folder = spec["folder"]
    y = np.load(os.path.join(folder, "y.npy"))
    if os.path.exists(os.path.join(folder, "X.npy")):
        X = np.load(os.path.join(folder, "X.npy"))
    else:
        X = sp.load_npz(os.path.join(folder, "X.npz")).tocsr()
    model = make_estimator(spec["name"], spec["C"], spec["tol"], spec["max_iter"])
    # Import-time and first-call allocations (BLAS buffers, thread pools)
    # belong to the library, not to this fit; warm them on a tiny problem.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_estimator(spec["name"], spec["C"], 1e-2, 5).fit(X[:200], y[:200])
    gc.collect()
    exact = True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        exact = False
    before = _rss_kib("VmRSS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    peak = _rss_kib("VmHWM")
    print(json.dumps({"peak": (peak - before) * 1024, "exact": exact}))
    return 0


def _save_dataset(folder, X, y):
    for name in ("X.npy", "X.npz", "y.npy"):  # the previous dataset's
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, name))
    np.save(os.path.join(folder, "y.npy"), y)
    if sp.issparse(X):
        sp.save_npz(os.path.join(folder, "X.npz"), X, compressed=False)
    else:
        np.save(os.path.join(folder, "X.npy"), X)


def _peak_memory_subprocess(name, folder, C, tol, max_iter, timeout):
    spec = json.dumps(
        {"name": name, "folder": folder, "C": C, "tol": tol, "max_iter": max_iter}
    )
    code = "import sys; from softreg._bench import _memory_child as m; m(sys.argv[1:])"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, spec],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "memory run timed out"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"memory run failed ({out.returncode}: {last[:80]})"
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["peak"], None


def _peak_memory_tracemalloc(name, X, y, C, tol, max_iter):
    model = make_estimator(name, C, tol, max_iter)
    gc.collect()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        return tracemalloc.get_traced_memory()[1], None
    finally:
        tracemalloc.stop()


def _kernel_times(X, y, coef, intercept, repeat):
    """Times of one softreg evaluation, its Hessian product and plain products."""
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from ._blocks import BlockRunner
    from ._objective import LinearObjective
    from .normalizers import Softmax

    n, K = X.shape[0], coef.shape[0]
    _, y_enc = np.unique(y, return_inverse=True)
    runner = BlockRunner.from_n_jobs(None)
    sw = np.ones(n, dtype=X.dtype)
    objective = LinearObjective(X, y_enc, K, Softmax(), sw, 1.0, True, runner=runner)
    w = np.vstack([coef.T, intercept[None, :]]).astype(np.float64).ravel()
    out = {}
    with runner.running():
        objective.loss_gradient(w)
        out["loss+grad"] = _best_time(lambda: objective.loss_gradient(w), repeat)
        out["hessp"] = _best_time(lambda: objective.hessp(w, w), repeat)
    W = np.ascontiguousarray(coef, dtype=X.dtype)
    R = np.random.default_rng(0).standard_normal((n, K)).astype(X.dtype)
    out["X@W.T"] = _best_time(lambda: X @ W.T, repeat)
    out["R.T@X"] = _best_time(lambda: R.T @ X, repeat)
    lml = LinearModelLoss(
        base_loss=HalfMultinomialLoss(n_classes=K), fit_intercept=True
    )
    c = np.hstack([coef, intercept[:, None]]).astype(X.dtype)
    yf = y_enc.astype(X.dtype)
    out["sklearn loss+grad"] = _best_time(
        lambda: lml.loss_gradient(c, X, yf, l2_reg_strength=1.0 / n), repeat
    )
    return out


# ----------------------------------------------------------------------------
# Reporting


def machine_info():
    """A short description of the machine, its load, and the library versions."""
    info = {"python": platform.python_version(), "platform": platform.platform()}
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from joblib import cpu_count

    info["cpu"] = (
        f"{cpu}, {cpu_count(only_physical_cores=True)} physical / "
        f"{os.cpu_count()} logical cores"
    )
    with contextlib.suppress(OSError, ValueError):
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory"] = f"{pages / (1 << 30):.1f} GiB"
    with contextlib.suppress(OSError, AttributeError):
        info["load average (1, 5, 15 min)"] = ", ".join(
            f"{x:.2f}" for x in os.getloadavg()
        )
    versions = f"numpy {np.__version__}, scipy {scipy.__version__}, "
    versions += f"scikit-learn {sklearn.__version__}"
    if _sklearnex_available():
        from importlib.metadata import version

        with contextlib.suppress(Exception):
            versions += f", scikit-learn-intelex {version('scikit-learn-intelex')}"
    info["versions"] = versions
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_info

        blas = {
            f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        }
        info["BLAS"] = "; ".join(sorted(blas))
    return info


def _fmt(x, spec):
    return (
        "" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, spec)
    )


def _mib(x):
    return "" if x is None else f"{x / _MIB:,.0f}"


def fit_table(rows):
    """Markdown table of the per-fit measurements."""
    head = (
        "| dataset | estimator | fit (s) | iter | objective | rel. gap to best "
        "sklearn | predict_proba (s) | peak fit memory (MiB) | notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for r in rows:
        gap = r.get("gap")
        lines.append(
            f"| {r['dataset']} | {r['estimator']} | {_fmt(r.get('fit'), '.2f')} "
            f"| {_fmt(r.get('n_iter'), 'd')} | {_fmt(r.get('objective'), '.10f')} "
            f"| {'' if gap is None else f'{gap:+.1e}'} "
            f"| {_fmt(r.get('predict'), '.3f')} | {_mib(r.get('memory'))} "
            f"| {'; '.join(r.get('notes', []))} |"
        )
    return head + "\n".join(lines) + "\n"


def kernel_table(kernels):
    """Markdown table of the per-dataset evaluation times."""
    head = (
        "| dataset | softreg loss+grad (ms) | X@W.T (ms) | R.T@X (ms) "
        "| loss+grad / (X@W.T + R.T@X) | softreg Hessian-vector (ms) "
        "| sklearn LinearModelLoss.loss_gradient (ms) |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for name, k in kernels.items():
        ratio = k["loss+grad"] / (k["X@W.T"] + k["R.T@X"])
        lines.append(
            f"| {name} | {1e3 * k['loss+grad']:.1f} | {1e3 * k['X@W.T']:.1f} "
            f"| {1e3 * k['R.T@X']:.1f} | {ratio:.2f} | {1e3 * k['hessp']:.1f} "
            f"| {1e3 * k['sklearn loss+grad']:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


def target_table(rows, kernels, rel=1e-7):
    """Markdown table of the issue's targets, per dataset."""
    head = (
        "| dataset | best softreg fit (s) | fastest sklearn fit (s) | ratio (target "
        "<= 0.5) | objective within 1e-7 of best sklearn | vs sklearnex "
        "| predict_proba speed-up (target >= 1.5) | peak memory softreg / "
        "sklearn lbfgs | loss+grad / products (target <= 1) |\n"
        "|---|---|---:|---:|---|---|---:|---:|---:|\n"
    )
    lines = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == ds and r.get("fit") is not None]
        sk = [r for r in mine if r["estimator"].startswith("sklearn ")]
        ex = [r for r in mine if r["estimator"].startswith("sklearnex ")]
        ours = [r for r in mine if r["estimator"].startswith("softreg ")]
        if not sk or not ours:
            continue
        best_obj = min(r["objective"] for r in sk)
        good = [r for r in ours if r["objective"] <= best_obj * (1 + rel)]
        pool = good or ours
        best = min(pool, key=lambda r: r["fit"])
        fastest = min(sk, key=lambda r: r["fit"])
        ex_txt = ""
        if ex:
            fx = min(ex, key=lambda r: r["fit"])
            ex_txt = f"{best['fit'] / fx['fit']:.2f}x of {fx['estimator']}"
        lr = next((r for r in sk if r["estimator"] == "sklearn lbfgs"), None)
        pred = mem = ""
        # predict_proba does not depend on the solver: the best time over
        # each library's fitted models (so best of 3 x their number) is the
        # least noisy estimate of each side.
        p_ours = [r["predict"] for r in ours if r.get("predict")]
        p_sk = [r["predict"] for r in sk if r.get("predict")]
        if p_ours and p_sk:
            pred = f"{min(p_sk) / min(p_ours):.1f}x"
        if lr and lr.get("memory") and best.get("memory") is not None:
            mem = f"{best['memory'] / lr['memory']:.2f}"
        k = kernels.get(ds)
        kr = f"{k['loss+grad'] / (k['X@W.T'] + k['R.T@X']):.2f}" if k else ""
        lines.append(
            f"| {ds} | {best['fit']:.2f} ({best['estimator'].split(' ', 1)[1]}) "
            f"| {fastest['fit']:.2f} ({fastest['estimator'].split(' ', 1)[1]}) "
            f"| {best['fit'] / fastest['fit']:.2f} | {'yes' if good else 'NO'} "
            f"| {ex_txt} | {pred} | {mem} | {kr} |"
        )
    return head + "\n".join(lines) + "\n"


METHOD = """\
Produced by `python -m softreg bench` (see `--help`). All fits run one after
the other in one process, on the same arrays, with the same `C`, `tol` and
`max_iter`.

- **tol**: every estimator gets the same `tol`, which all of them read as a
  bound on the largest gradient entry. The default, 1e-6, is tighter than
  scikit-learn's 1e-4 because at 1e-4 different solvers stop at objectives
  that differ by ~1e-6 relative, too coarse for a comparison at 1e-7.
- **objective**: scikit-learn's own formula, `LinearModelLoss` with
  `HalfMultinomialLoss` and `l2_reg_strength = 1 / (C n)`, evaluated in
  float64 at each model's `coef_` and `intercept_` without any softreg
  code. "rel. gap" is relative to the best scikit-learn objective of the row.
- **peak memory**: each fit is repeated in a fresh process that loads the
  saved arrays, warms the library on 200 rows, resets the kernel's
  resident-set high-water mark (`/proc/self/clear_refs`), fits, and reports
  `VmHWM` minus the resident set just before the fit: every allocation
  counts, native ones included. newton-cholesky is not re-run (its Hessian
  alone is given).
- **one evaluation**: softreg's loss+gradient (and Hessian-vector product)
  at a fitted model with the default threads, beside the two products any
  evaluation needs, `X @ W.T` and `R.T @ X`, as plain numpy/scipy calls
  (multithreaded BLAS), and scikit-learn's `LinearModelLoss.loss_gradient`.
  Best of 7.
- newton-cholesky is skipped, with a note, where its dense Hessian would not
  fit in memory (scikit-learn 1.9.1 dies of a segfault there).
"""


def render(info, settings, rows, kernels, datasets):
    """The whole report as markdown."""
    out = io.StringIO()
    out.write("## Method\n\n" + METHOD)
    out.write("\n## Machine\n\n")
    for k, v in info.items():
        out.write(f"- {k}: {v}\n")
    out.write("\n## Settings\n\n")
    for k, v in settings.items():
        out.write(f"- {k}: {v}\n")
    out.write("\n## Datasets\n\n")
    for k, v in datasets.items():
        out.write(f"- {k}: {v}\n")
    out.write("\n## Targets\n\n" + target_table(rows, kernels))
    out.write("\n## Fits\n\n" + fit_table(rows))
    out.write("\n## One evaluation over the whole data\n\n" + kernel_table(kernels))
    return out.getvalue()


# ----------------------------------------------------------------------------
# Driver


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m softreg bench",
        description=(
            "Fit SoftmaxRegression (every solver) and LogisticRegression "
            "(lbfgs, newton-cg, newton-cholesky; scikit-learn-intelex when "
            "installed) on the same data with the same C and tol; report fit "
            "time, iterations, objective, predict_proba time, peak memory, "
            "and the cost of one evaluation beside two plain matrix products."
        ),
    )
    p.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help=f"comma-separated subset of {', '.join(DATASETS)} (default: all)",
    )
    p.add_argument(
        "--peers",
        default=None,
        help="comma-separated estimators, e.g. 'softreg trust-ncg,sklearn lbfgs' "
        "(default: all of " + ", ".join(estimator_names()) + ")",
    )
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply the row counts (default 1)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run in seconds: --scale 0.01, tracemalloc memory, no repeats",
    )
    p.add_argument(
        "--tol",
        type=float,
        default=DEFAULT_TOL,
        help=f"tol of every fit (default {DEFAULT_TOL:g}, see the docs)",
    )
    p.add_argument("--max-iter", type=int, default=DEFAULT_MAX_ITER)
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="fit each estimator this many times and keep the fastest (default 1)",
    )
    p.add_argument(
        "--memory",
        choices=["subprocess", "tracemalloc", "none"],
        default=None,
        help="how to measure peak fit memory: a fresh process per fit reading "
        "the kernel's resident-set high-water mark (default; counts native "
        "allocations too), tracemalloc in this process (numpy and Python "
        "allocations only), or not at all",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--markdown", default=None, help="write the report to this markdown file"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds allowed for one memory subprocess",
    )
    return p


def main(argv=None):
    """Run the benchmark; see ``python -m softreg bench --help``."""
    args = _parser().parse_args(argv)
    if args.quick:
        args.scale = min(args.scale, 0.01)
        args.memory = args.memory or "tracemalloc"
    memory = args.memory or "subprocess"
    names = estimator_names()
    if args.peers:
        wanted = [s.strip() for s in args.peers.split(",") if s.strip()]
        unknown = [
            w for w in wanted if w not in estimator_names(include_sklearnex=False)
        ]
        unknown = [w for w in unknown if not w.startswith("sklearnex")]
        if unknown:
            raise SystemExit(f"unknown estimators {unknown}; choose from {names}")
        names = [n for n in wanted if n in names]
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    bad = [d for d in datasets if d not in DATASETS]
    if bad:
        raise SystemExit(f"unknown datasets {bad}; choose from {list(DATASETS)}")

    info = machine_info()
    settings = {
        "C": args.C,
        "tol": f"{args.tol:g} for every estimator (largest gradient entry)",
        "max_iter": args.max_iter,
        "scale": args.scale,
        "fit repeats (fastest kept)": args.repeat,
        "peak memory": {
            "subprocess": "fresh process per fit, peak resident set above the "
            "level before fit (VmHWM after clear_refs)",
            "tracemalloc": "tracemalloc peak in this process (numpy and Python "
            "allocations only; misses native ones, e.g. scikit-learn-intelex)",
            "none": "not measured",
        }[memory],
        "threads": "softreg n_jobs=None (one per physical core); scikit-learn "
        "and scikit-learn-intelex defaults (all cores)",
    }
    if not _sklearnex_available():
        settings["scikit-learn-intelex"] = "not installed: not benchmarked"
    print("# softreg benchmark\n")
    for k, v in {**info, **settings}.items():
        print(f"{k}: {v}")
    rows, kernels, described = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="softreg-bench-") as folder:
        for ds in datasets:
            X, y = make_dataset(ds, args.scale, args.seed)
            described[ds] = _describe(X, y)
            print(f"\n## {ds}: {described[ds]}", flush=True)
            if memory == "subprocess":
                _save_dataset(folder, X, y)
            fitted = {}
            for name in names:
                row = {"dataset": ds, "estimator": name, "notes": []}
                rows.append(row)
                reason = skip_reason(name, X, np.unique(y).size, args.quick)
                if reason:
                    row["notes"].append(reason)
                    print(f"  {name:24s} {reason}", flush=True)
                    continue
                try:
                    best = np.inf
                    for _ in range(max(1, args.repeat)):
                        model = make_estimator(name, args.C, args.tol, args.max_iter)
                        gc.collect()
                        seconds, notes = _fit(model, X, y)
                        best = min(best, seconds)
                    row["fit"], row["notes"] = best, notes
                    row["n_iter"] = _n_iter(model)
                    row["objective"] = sklearn_objective(model, X, y, args.C)
                    row["predict"] = _best_time(
                        lambda m=model, X=X: m.predict_proba(X), 3
                    )
                    fitted[name] = model
                except Exception as exc:  # the benchmark reports, never crashes
                    row["notes"].append(f"error: {type(exc).__name__}: {exc}"[:200])
                    traceback.print_exc(limit=2)
                    continue
                try:
                    if name.endswith("newton-cholesky") and memory != "none":
                        # Its fit is the slowest of all by far; its memory is
                        # dominated by the Hessian, reported instead.
                        d = (X.shape[1] + 1) * np.unique(y).size
                        note = (
                            f"memory not measured: its {d}x{d} Hessian alone is "
                            f"{8 * d * d / _MIB:,.1f} MiB"
                        )
                    elif memory == "subprocess":
                        row["memory"], note = _peak_memory_subprocess(
                            name, folder, args.C, args.tol, args.max_iter, args.timeout
                        )
                    elif memory == "tracemalloc":
                        row["memory"], note = _peak_memory_tracemalloc(
                            name, X, y, args.C, args.tol, args.max_iter
                        )
                    else:
                        note = None
                    if note:
                        row["notes"].append(note)
                except Exception as exc:
                    row["notes"].append(f"memory: {type(exc).__name__}: {exc}"[:120])
                print(
                    f"  {name:24s} fit {row['fit']:8.2f}s  iter {row['n_iter']!s:>5}  "
                    f"obj {row['objective']:.12f}  predict {row['predict']:.3f}s  "
                    f"mem {_mib(row.get('memory')):>7} MiB  {'; '.join(row['notes'])}",
                    flush=True,
                )
            sk = [r for r in rows if r["dataset"] == ds and "objective" in r]
            sk_objs = [
                r["objective"] for r in sk if r["estimator"].startswith("sklearn ")
            ]
            if sk_objs:
                for r in sk:
                    r["gap"] = (r["objective"] - min(sk_objs)) / abs(min(sk_objs))
            ref = next((m for n, m in fitted.items() if n.startswith("softreg")), None)
            ref = ref or next(iter(fitted.values()), None)
            if ref is not None:
                try:
                    kernels[ds] = _kernel_times(
                        X, y, ref.coef_, ref.intercept_, 3 if args.quick else 7
                    )
                    k = kernels[ds]
                    print(
                        f"  one evaluation: softreg loss+grad "
                        f"{1e3 * k['loss+grad']:.1f} ms, X@W.T {1e3 * k['X@W.T']:.1f}"
                        f" ms + R.T@X {1e3 * k['R.T@X']:.1f} ms, hessp "
                        f"{1e3 * k['hessp']:.1f} ms, sklearn loss_gradient "
                        f"{1e3 * k['sklearn loss+grad']:.1f} ms",
                        flush=True,
                    )
                except Exception as exc:
                    print(f"  kernel timing failed: {exc}")
            del X, y, fitted
            gc.collect()
    info["load average at the end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report = render(info, settings, rows, kernels, described)
    print("\n" + report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# softreg benchmark\n\n" + report)
        print(f"written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
