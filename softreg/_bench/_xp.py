"""``python -m softreg bench --array-api torch``: fits on an array library's device.

SoftmaxRegression against scikit-learn's LogisticRegression (lbfgs), both
under ``sklearn.config_context(array_api_dispatch=True)``, on the same data
(synthetic, float32 by default) in the same namespace and on the same device,
with the same ``C``, ``tol`` and ``max_iter``::

    python -m softreg bench --array-api torch               # cuda if present
    python -m softreg bench --array-api torch --device cpu
    python -m softreg bench --array-api cupy                # a CUDA GPU

Reports the fit time, iterations, the objective reached (both evaluated on
the host in float64), the predict_proba time, the bytes crossing between
host and device per pass, and SoftmaxRegression on NumPy arrays for
reference. scikit-learn needs ``SCIPY_ARRAY_API=1`` for array API dispatch,
and scipy reads it when first imported: without it in the environment the
command runs itself again in a child process that has it.
"""

import argparse
import os
import platform
import subprocess
import sys
import time

import numpy as np

# Problem sizes by device: a CPU run that takes minutes, and the GPU target
# of the issue that introduced this command.
SIZES = {
    "cpu": (200_000, 100, 10),
    "gpu": (1_000_000, 256, 100),
}


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m softreg bench --array-api NAME",
        description=__doc__.splitlines()[0],
    )
    p.add_argument(
        "--array-api",
        dest="namespace",
        required=True,
        choices=["torch", "cupy", "array_api_strict"],
        help="the array library holding X, y and the fitted model",
    )
    p.add_argument(
        "--device",
        default=None,
        help="device name for the library (torch: cpu, cuda, cuda:1, mps); "
        "default: cuda, else mps, else cpu",
    )
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--features", type=int, default=None)
    p.add_argument("--classes", type=int, default=None)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--repeat", type=int, default=1, help="fits per estimator")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-numpy", action="store_true", help="skip the NumPy line")
    return p


def _library(name, device):
    """``(module, device object, synchronise, device label)``."""
    if name == "torch":
        import torch

        if device is None:
            if torch.cuda.is_available():
                device = "cuda"
            elif torch.backends.mps.is_available():
                device = "mps"
            else:
                device = "cpu"
        dev = torch.device(device)

        def sync():
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            elif dev.type == "mps":
                torch.mps.synchronize()

        label = dev.type
        if dev.type == "cuda":
            label = f"cuda ({torch.cuda.get_device_name(dev)})"
        elif dev.type == "cpu":
            label = f"cpu ({torch.get_num_threads()} torch threads)"
        return torch, dev, sync, label
    if name == "cupy":
        import cupy
        from sklearn.externals.array_api_compat import cupy as cupy_compat

        dev = cupy.cuda.Device(int(device or 0))

        def sync():
            cupy.cuda.Stream.null.synchronize()

        # The compat namespace's asarray takes device=, cupy's own does not.
        return cupy_compat, dev, sync, f"cuda:{dev.id}"
    import array_api_strict

    dev = array_api_strict.Device(device) if device else None
    return array_api_strict, dev, lambda: None, "cpu (array_api_strict)"


def _data(n, p, k, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p), dtype=np.float32).astype(dtype)
    Wt = rng.standard_normal((p, k)).astype(dtype) * (1.5 / np.sqrt(p))
    logits = X @ Wt + rng.gumbel(size=(n, k)).astype(dtype)
    return X, logits.argmax(axis=1)


def _objective(coef, proba, y, C):
    """Mean log-loss plus ``||W||^2 / (2 C n)``, in float64 on the host."""
    n = y.size
    p_true = np.asarray(proba, dtype=np.float64)[np.arange(n), y]
    loss = -np.mean(np.log(np.maximum(p_true, np.finfo(np.float64).tiny)))
    coef = np.asarray(coef, dtype=np.float64)
    return loss + float(np.vdot(coef, coef)) / (2 * C * n)


def _to_numpy(a):
    from softreg._xp import to_numpy

    return np.asarray(to_numpy(a))


def _time_fit(make, X, y, repeat, sync):
    best, est = np.inf, None
    for _ in range(repeat):
        est = make()
        sync()
        start = time.perf_counter()
        est.fit(X, y)
        sync()
        best = min(best, time.perf_counter() - start)
    return est, best


def _time_predict(est, X, sync, repeat=3):
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        P = est.predict_proba(X)
        sync()
        times.append(time.perf_counter() - start)
    return P, min(times)


def main(argv=None):
    """Run the array API benchmark; see ``--array-api torch --help``."""
    args = _parser().parse_args(argv)
    if os.environ.get("SCIPY_ARRAY_API") != "1":
        env = {**os.environ, "SCIPY_ARRAY_API": "1"}
        command = [sys.executable, "-m", "softreg", "bench", *(argv or [])]
        return subprocess.call(command, env=env)
    import sklearn
    from sklearn.linear_model import LogisticRegression

    from softreg import SoftmaxRegression

    xp, dev, sync, label = _library(args.namespace, args.device)
    on_gpu = label.startswith(("cuda", "mps"))
    n, p, k = SIZES["gpu" if on_gpu else "cpu"]
    n, p, k = args.rows or n, args.features or p, args.classes or k
    X, y = _data(n, p, k, np.dtype(args.dtype), args.seed)
    kwargs = {} if dev is None else {"device": dev}
    Xd, yd = xp.asarray(X, **kwargs), xp.asarray(y, **kwargs)
    print("# softreg array API benchmark")
    print(f"python {platform.python_version()}, {platform.platform()}")
    print(
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"{args.namespace} {getattr(xp, '__version__', '')}"
    )
    print(f"device: {label}")
    print(
        f"data: {n} x {p} {args.dtype}, {k} classes; C={args.C}, tol={args.tol}, "
        f"max_iter={args.max_iter}; fastest of {args.repeat} fit(s), "
        "predict_proba fastest of 3"
    )
    item = np.dtype(args.dtype).itemsize
    print(
        f"per pass: {(p + 1) * k * item} bytes to the device (W^T, b), "
        f"{(1 + (p + 1) * k) * 8} bytes back (loss, gradient in float64)"
    )
    common = dict(C=args.C, tol=args.tol, max_iter=args.max_iter)
    peers = [
        ("softreg SoftmaxRegression", lambda: SoftmaxRegression(**common)),
        ("sklearn LogisticRegression", lambda: LogisticRegression(**common)),
    ]
    header = f"{'estimator':<28} {'input':<8} {'fit s':>8} {'iter':>5} "
    print(header + f"{'objective':>16} {'predict_proba s':>16}")
    rows = []
    with sklearn.config_context(array_api_dispatch=True):
        for name, make in peers:
            est, fit_time = _time_fit(make, Xd, yd, args.repeat, sync)
            P, pred_time = _time_predict(est, Xd, sync)
            obj = _objective(_to_numpy(est.coef_), _to_numpy(P), y, args.C)
            n_iter = int(np.max(_to_numpy(est.n_iter_)))
            rows.append((name, args.namespace, fit_time, n_iter, obj, pred_time))
            print(
                f"{name:<28} {args.namespace:<8} {fit_time:>8.2f} {n_iter:>5} "
                f"{obj:>16.10f} {pred_time:>16.4f}",
                flush=True,
            )
    if not args.no_numpy:
        est, fit_time = _time_fit(
            lambda: SoftmaxRegression(**common), X, y, args.repeat, lambda: None
        )
        P, pred_time = _time_predict(est, X, lambda: None)
        obj = _objective(est.coef_, P, y, args.C)
        print(
            f"{'softreg SoftmaxRegression':<28} {'numpy':<8} {fit_time:>8.2f} "
            f"{est.n_iter_:>5} {obj:>16.10f} {pred_time:>16.4f}"
        )
    if len(rows) == 2:
        print(
            f"fit speed-up over LogisticRegression: {rows[1][2] / rows[0][2]:.2f}x; "
            f"predict_proba: {rows[1][5] / rows[0][5]:.2f}x"
        )


if __name__ == "__main__":
    main()
