"""``python -m softreg agreement``: largest differences from LogisticRegression."""

import argparse

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ._estimator import SoftmaxRegression


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _sparse():
    rng = np.random.RandomState(0)
    X = sp.random(300, 80, density=0.1, format="csr", random_state=rng)
    return X, np.asarray(X @ rng.normal(size=(80, 4))).argmax(axis=1)


def _cases():
    """(name, X, y, fit kwargs, C of softreg, C of LogisticRegression)."""
    synthetic = make_classification(
        n_samples=500, n_features=20, n_informative=10, n_classes=5, random_state=0
    )
    for name, (X, y) in [
        ("iris", _standardised(load_iris)),
        ("wine", _standardised(load_wine)),
        ("digits", _standardised(load_digits)),
        ("synthetic", synthetic),
        ("sparse CSR", _sparse()),
    ]:
        yield name, X, y, {}, {}, 1.0, 1.0
    X, y = synthetic
    sw = np.random.RandomState(1).randint(0, 4, size=y.size)
    yield "synthetic, integer sample_weight", X, y, {"sample_weight": sw}, {}, 1.0, 1.0
    keep = np.r_[np.flatnonzero(y != 0)[::3], np.flatnonzero(y == 0)]
    yield (
        "synthetic, class_weight='balanced'",
        X[keep],
        y[keep],
        {},
        {"class_weight": "balanced"},
        1.0,
        1.0,
    )
    X, y = _standardised(load_breast_cancer)
    yield "breast_cancer, binary: C vs 2C", X, y, {}, {}, 0.5, 1.0


def _binary_coef(model):
    # LogisticRegression's one vector is the difference of the two class scores.
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 2:
        return coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    return coef, intercept


def run(tol=1e-10):
    """Fit both estimators on each case and return the largest differences.

    Parameters
    ----------
    tol : float, default=1e-10
        Gradient tolerance of both solvers.

    Returns
    -------
    rows : list of tuple
        ``(case, max |coef diff|, max |intercept diff|, max |proba diff|)``.
    """
    rows = []
    for name, X, y, fit_kw, est_kw, c_ours, c_ref in _cases():
        ours = SoftmaxRegression(C=c_ours, tol=tol, max_iter=10_000, **est_kw)
        ref = LogisticRegression(C=c_ref, tol=tol, max_iter=10_000, **est_kw)
        ours.fit(X, y, **fit_kw)
        ref.fit(X, y, **fit_kw)
        coef, intercept = _binary_coef(ours)
        rows.append(
            (
                name,
                np.abs(coef - ref.coef_).max(),
                np.abs(intercept - ref.intercept_).max(),
                np.abs(ours.predict_proba(X) - ref.predict_proba(X)).max(),
            )
        )
    return rows


def main(argv=None):
    """Print the agreement table as markdown."""
    parser = argparse.ArgumentParser(
        prog="python -m softreg agreement",
        description="Largest |difference| between SoftmaxRegression and "
        "LogisticRegression (lbfgs) on the same objective.",
    )
    parser.add_argument("--tol", type=float, default=1e-10)
    args = parser.parse_args(argv)
    print(f"tol={args.tol:g} for both estimators\n")
    print("| case | coef_ | intercept_ | predict_proba |")
    print("|---|---|---|---|")
    for name, *diffs in run(args.tol):
        print(f"| {name} | " + " | ".join(f"{d:.1e}" for d in diffs) + " |")
    return 0
