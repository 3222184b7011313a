"""``python -m softreg calibration``: calibrated softreg against CalibratedClassifierCV.

Every bundled classification dataset of scikit-learn (iris, wine,
breast_cancer, digits) and two synthetic ones with label noise, at several
``C``: 60% of the rows train a ``StandardScaler`` + model pipeline, the other
40% (stratified, ``random_state=0``; ``--splits k`` averages over the
splits of ``random_state`` 0 to ``k - 1``) measure the held-out log loss, top-label
ECE (15 bins), accuracy, and the fit time, for

* ``T=1``: :class:`~softreg.SoftmaxRegression` alone;
* ``softreg temperature``/``vector``/``ensemble``: its ``calibration=``
  options (5 shuffled stratified folds, ``random_state=0``);
* ``CC temperature``/``CC temperature one``/``CC sigmoid``/``CC isotonic``:
  :class:`~sklearn.calibration.CalibratedClassifierCV` around the same
  ``SoftmaxRegression`` (same ``C``, same folds), with ``ensemble=True``
  except for ``one`` (``ensemble=False``).

The goal columns compare one softreg method (``--method``) with the best
CalibratedClassifierCV variant of the row: its log loss over the best one's,
whether its ECE is at most that of CalibratedClassifierCV's default
(temperature, ensemble), and its fit time over the fastest variant's.
"""

import argparse
import time

import numpy as np

METHODS = (
    "T=1",
    "softreg temperature",
    "softreg vector",
    "softreg ensemble",
    "CC temperature",
    "CC temperature one",
    "CC sigmoid",
    "CC isotonic",
)
DATASETS = ("iris", "wine", "breast_cancer", "digits", "noisy3", "noisy2")


def load(name):
    """``(X, y)`` of a benchmark dataset."""
    from sklearn import datasets

    if name == "noisy3":  # three classes, 20% of the labels random
        return datasets.make_classification(
            2000, 20, n_informative=8, n_classes=3, flip_y=0.2, random_state=0
        )
    if name == "noisy2":  # two overlapping classes, 10% of the labels random
        return datasets.make_classification(
            2000, 20, n_informative=5, flip_y=0.1, class_sep=0.8, random_state=1
        )
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS}")
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def make_model(method, C, max_iter=1000):
    """The pipeline of ``method`` at ``C``."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from softreg import SoftmaxRegression

    base = SoftmaxRegression(C=C, max_iter=max_iter)
    if method == "T=1":
        model = base
    elif method.startswith("softreg "):
        model = base.set_params(calibration=method.split()[1], random_state=0)
    else:
        parts = method.split()
        model = CalibratedClassifierCV(
            base,
            method=parts[1],
            ensemble=parts[-1] != "one",
            cv=StratifiedKFold(5, shuffle=True, random_state=0),
        )
    return make_pipeline(StandardScaler(), model)


def measure(name, C, methods, repeat=1, split=0):
    """One row per method: log loss, ECE, accuracy, fit time (best of ``repeat``).

    ``split`` seeds the train/test split.
    """
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    from softreg.metrics import top_label_ece

    X, y = load(name)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=split
    )
    rows = []
    for method in methods:
        times = []
        for _ in range(repeat):
            model = make_model(method, C)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
        proba = model.predict_proba(X_test)
        classes = model.classes_
        rows.append(
            {
                "dataset": name,
                "C": C,
                "method": method,
                "log_loss": log_loss(y_test, proba, labels=classes),
                "ece": top_label_ece(y_test, proba, labels=classes),
                "accuracy": float(np.mean(classes[proba.argmax(axis=1)] == y_test)),
                "fit_s": min(times),
            }
        )
    return rows


def _mean_rows(per_split):
    """The rows of the first split with every number averaged over splits."""
    mean = []
    for group in zip(*per_split, strict=True):
        row = dict(group[0])
        for key in ("log_loss", "ece", "accuracy", "fit_s"):
            row[key] = float(np.mean([r[key] for r in group]))
        mean.append(row)
    return mean


def goal(rows, method):
    """The goal columns of ``method`` against CalibratedClassifierCV, per row."""
    out = []
    keys = sorted({(r["dataset"], r["C"]) for r in rows}, key=lambda k: k)
    for key in keys:
        group = {r["method"]: r for r in rows if (r["dataset"], r["C"]) == key}
        cc = [r for m, r in group.items() if m.startswith("CC ")]
        if method not in group or not cc:
            continue
        ours = group[method]
        best = min(cc, key=lambda r: r["log_loss"])
        default = group.get("CC temperature", best)
        out.append(
            {
                "dataset": key[0],
                "C": key[1],
                "loss_ratio": ours["log_loss"] / best["log_loss"],
                "best_cc": best["method"],
                "ece_ok": ours["ece"] <= default["ece"],
                "time_ratio": ours["fit_s"] / min(r["fit_s"] for r in cc),
            }
        )
    return out


def render(rows, goals, method):
    """Markdown tables: every measurement, then the goal check."""
    lines = [
        "| dataset | C | method | log loss | ECE | accuracy | fit (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['C']:g} | {r['method']} | {r['log_loss']:.4f} "
            f"| {r['ece']:.4f} | {r['accuracy']:.4f} | {r['fit_s']:.3f} |"
        )
    lines += [
        "",
        f"Goal check of `{method}`: log loss over the best CalibratedClassifierCV "
        "variant's (goal <= 1.02), ECE at most CalibratedClassifierCV's default "
        "(temperature, ensemble), fit time over the fastest variant's (goal < 1).",
        "",
        "| dataset | C | loss / best CC | best CC | ECE <= CC default | time / CC |",
        "|---|---|---|---|---|---|",
    ]
    for g in goals:
        mark = "" if g["loss_ratio"] <= 1.02 else " (missed)"
        lines.append(
            f"| {g['dataset']} | {g['C']:g} | {g['loss_ratio']:.3f}{mark} "
            f"| {g['best_cc']} | {'yes' if g['ece_ok'] else 'no'} "
            f"| {g['time_ratio']:.2f} |"
        )
    met = sum(g["loss_ratio"] <= 1.02 for g in goals)
    ece = sum(g["ece_ok"] for g in goals)
    lines += [
        "",
        f"Log loss goal met on {met} of {len(goals)} rows; ECE no worse than "
        f"CalibratedClassifierCV's default on {ece} of {len(goals)}.",
    ]
    return "\n".join(lines)


def main(argv=None):
    """Run the calibration benchmark; see ``--help``."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    parser = argparse.ArgumentParser(
        prog="python -m softreg calibration", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calibration", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--Cs", default="0.01,1,100", help="comma-separated C values")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--method",
        default="softreg ensemble",
        help="the softreg method of the goal check (default: softreg ensemble)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="fits per timing")
    parser.add_argument(
        "--splits",
        type=int,
        default=1,
        help="average every number over this many train/test splits "
        "(random_state 0, 1, ...; default 1: the split of random_state=0)",
    )
    parser.add_argument("--markdown", default=None, help="also write the report here")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: iris at C=1 only"
    )
    args = parser.parse_args(argv)
    datasets = ["iris"] if args.quick else args.datasets.split(",")
    Cs = [1.0] if args.quick else [float(c) for c in args.Cs.split(",")]
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    rows = []
    with warnings.catch_warnings():
        # Weak penalties on separable data stop at max_iter: the point of the
        # benchmark is the calibration of whatever the fits reach.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in datasets:
            for C in Cs:
                per_split = [
                    measure(name, C, methods, args.repeat, split)
                    for split in range(args.splits)
                ]
                rows += _mean_rows(per_split)
                print(f"measured {name} at C={C:g}", flush=True)
    report = render(rows, goal(rows, args.method), args.method)
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report + "\n")
    return 0
