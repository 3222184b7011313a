"""``python -m softreg``: SoftmaxRegression beside LogisticRegression on digits."""

import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._estimator import SoftmaxRegression


def _models():
    # The same objective on both sides: 10 classes, same C, same tolerance.
    yield "softreg.SoftmaxRegression", SoftmaxRegression(C=1.0, max_iter=1000)
    yield (
        "sklearn LogisticRegression",
        LogisticRegression(C=1.0, max_iter=1000),
    )


def _on_terminal(out):
    isatty = getattr(out, "isatty", None)
    return isatty is not None and isatty()


def _progress(message, out):
    """One progress line: rewritten in place on a terminal, else one per line.

    A carriage return only makes sense to a terminal; in a log file, a CI
    log or a pipe the messages would pile up on one line.
    """
    if _on_terminal(out):
        out.write(f"\r{message:<60}")
    else:
        out.write(f"{message}\n")
    out.flush()


def run(out=sys.stdout):
    """Fit both models on scikit-learn's digits and print a comparison table.

    Parameters
    ----------
    out : file-like, default=sys.stdout
        Where the progress line and the table go.

    Returns
    -------
    rows : list of tuple
        ``(name, accuracy, log_loss, fit_seconds, n_iter)`` per model.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    out.write(
        f"digits: {X.shape[0]} images of 8x8 pixels, 10 classes; "
        f"train {X_train.shape[0]}, test {X_test.shape[0]}, standardised\n"
    )
    rows, probas = [], []
    for name, model in _models():
        _progress(f"fitting {name} ...", out)
        pipe = make_pipeline(StandardScaler(), model)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # progress line stays on one row
            pipe.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        proba = pipe.predict_proba(X_test)
        probas.append(proba)
        n_iter = int(np.max(model.n_iter_))  # an array for LogisticRegression
        rows.append(
            (
                name,
                accuracy_score(y_test, pipe.predict(X_test)),
                log_loss(y_test, proba, labels=pipe.classes_),
                seconds,
                n_iter,
            )
        )
    _progress("done.", out)
    out.write("\n\n" if _on_terminal(out) else "\n")
    header = f"{'model':<28}{'accuracy':>10}{'log loss':>10}{'fit (s)':>10}{'iters':>7}"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for name, acc, loss, seconds, n_iter in rows:
        out.write(f"{name:<28}{acc:>10.4f}{loss:>10.4f}{seconds:>10.3f}{n_iter:>7d}\n")
    gap = np.abs(probas[0] - probas[1]).max()
    out.write(
        "\nSame objective (multinomial log-likelihood + L2, C=1, tol=1e-4): "
        f"largest |difference| of test probabilities {gap:.1e}\n"
    )
    return rows


def main(argv=None):
    """Entry point of ``python -m softreg`` without a subcommand."""
    run()
    return 0
