"""Measurements: fit and evaluation times, peak memory, the machine."""

import contextlib
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.exceptions import ConvergenceWarning

from ._estimators import _sklearnex_available, make_estimator


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

    from .._blocks import BlockRunner
    from .._objective import LinearObjective
    from ..normalizers import Softmax

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
