"""The command line: options, and the loop over datasets and estimators."""

import argparse
import gc
import os
import tempfile
import traceback

import numpy as np

from ._cvpath import run_section as run_cv_path_section
from ._datasets import DATASETS, _describe, make_dataset
from ._elastic import ENET_DATASETS, elastic_net_table, run_elastic_net
from ._estimators import (
    _n_iter,
    _sklearnex_available,
    estimator_names,
    make_estimator,
    skip_reason,
    sklearn_objective,
)
from ._measure import (
    _best_time,
    _fit,
    _kernel_times,
    _peak_memory_subprocess,
    _peak_memory_tracemalloc,
    _save_dataset,
    machine_info,
)
from ._report import _MIB, _mib, render

# Default tolerance of every solver in the benchmark (see --help): tight
# enough that the objectives reached by the different methods agree to
# about 1e-7 relative, the precision at which the targets compare them.
DEFAULT_TOL = 1e-6
DEFAULT_MAX_ITER = 300


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
    p.add_argument(
        "--enet",
        choices=["yes", "no", "only"],
        default="yes",
        help="the elastic-net section (softreg lbfgs against sklearn saga at one "
        "C): run it after the L2 benchmark (default), skip it, or run only it",
    )
    p.add_argument(
        "--enet-datasets",
        default=",".join(ENET_DATASETS),
        help=f"comma-separated subset of {', '.join(ENET_DATASETS)}",
    )
    p.add_argument("--enet-C", type=float, default=0.1, help="C of the section")
    p.add_argument("--l1-ratio", type=float, default=1.0, help="(default 1: lasso)")
    p.add_argument(
        "--enet-tol",
        type=float,
        default=DEFAULT_TOL,
        help=f"softreg's tol in the section (default {DEFAULT_TOL:g})",
    )
    p.add_argument(
        "--saga-tol",
        type=float,
        default=1e-4,
        help="saga's tol (default 1e-4, its default; its test is on the change "
        "of the weights, not on the gradient)",
    )
    p.add_argument("--saga-max-iter", type=int, default=1000)
    p.add_argument(
        "--cv",
        choices=["yes", "no", "only"],
        default="no",
        help="the cross-validation and path section (SoftmaxRegressionCV against "
        "LogisticRegressionCV and GridSearchCV; a lasso path against glmnet): "
        "skip it (default), run it after the rest, or run only it",
    )
    p.add_argument("--cv-cs", type=int, default=10, help="C values in the CV grid")
    p.add_argument("--cv-folds", type=int, default=5, help="folds of the CV section")
    p.add_argument(
        "--n-lambda", type=int, default=50, help="lambdas of the lasso path (50)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dask",
        action="store_true",
        help="run the Dask benchmark instead (LocalCluster; --dask --help)",
    )
    p.add_argument(
        "--onnx",
        action="store_true",
        help="run the ONNX latency benchmark instead (--onnx --help)",
    )
    p.add_argument(
        "--calibration",
        action="store_true",
        help="run the calibration benchmark instead (same as python -m softreg "
        "calibration; --calibration --help)",
    )
    p.add_argument(
        "--array-api",
        metavar="NAME",
        help="run the array API benchmark instead: fits on torch, cupy or "
        "array_api_strict arrays against LogisticRegression under the same "
        "dispatch (--array-api torch --help)",
    )
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
    if argv is not None and "--dask" in argv:
        from ._dask import main as dask_main

        return dask_main(argv)
    if argv is not None and "--calibration" in argv:
        from ._calibration import main as calibration_main

        return calibration_main(argv)
    if argv is not None and "--array-api" in argv:
        from ._xp import main as xp_main

        return xp_main(argv)
    if argv is not None and "--onnx" in argv:
        from ._onnx import main as onnx_main

        return onnx_main(argv)
    args = _parser().parse_args(argv)
    if args.quick:
        args.scale = min(args.scale, 0.01)
        args.memory = args.memory or "tracemalloc"
    memory = args.memory or "subprocess"
    if args.cv == "only":
        return _cv_path_only(args)
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
    # The L2 settings do not apply to an elastic-net-only run.
    for k, v in {**info, **(settings if args.enet != "only" else {})}.items():
        print(f"{k}: {v}")
    if args.enet == "only":
        report = _elastic_net_section(args)
        info["load average at the end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        report = (
            "## Machine\n\n"
            + "".join(f"- {k}: {v}\n" for k, v in info.items())
            + "\n"
            + report
        )
        return _write(report, args)
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
    enet = _elastic_net_section(args) if args.enet == "yes" else ""
    info["load average at the end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report = render(info, settings, rows, kernels, described)
    if args.cv == "yes":
        enet += "\n" + run_cv_path_section(args, out=lambda s: print(s, flush=True))
    return _write(report + ("\n" + enet if enet else ""), args)


def _cv_path_only(args):
    info = machine_info()
    print("# softreg benchmark\n")
    for k, v in info.items():
        print(f"{k}: {v}")
    report = run_cv_path_section(args, out=lambda s: print(s, flush=True))
    info["load average at the end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    head = "## Machine\n\n" + "".join(f"- {k}: {v}\n" for k, v in info.items())
    return _write(head + "\n" + report, args)


def _elastic_net_section(args):
    datasets = [d.strip() for d in args.enet_datasets.split(",") if d.strip()]
    bad = [d for d in datasets if d not in ENET_DATASETS]
    if bad:
        raise SystemExit(f"unknown datasets {bad}; choose from {list(ENET_DATASETS)}")
    rows, described = run_elastic_net(
        datasets,
        args.scale,
        args.seed,
        args.enet_C,
        args.l1_ratio,
        args.enet_tol,
        args.saga_tol,
        args.max_iter,
        args.saga_max_iter,
        out=lambda line: print(line, flush=True),
    )
    settings = {
        "C": args.enet_C,
        "l1_ratio": args.l1_ratio,
        "tol": f"softreg {args.enet_tol:g} (largest optimality violation), saga "
        f"{args.saga_tol:g} (largest relative change of the weights per epoch)",
        "max_iter": f"softreg {args.max_iter}, saga {args.saga_max_iter}",
        "scale": args.scale,
    }
    return elastic_net_table(rows, settings, described)


def _write(report, args):
    print("\n" + report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# softreg benchmark\n\n" + report)
        print(f"written to {args.markdown}")
    return 0
