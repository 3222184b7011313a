"""Write the pickled models that tests/test_persistence.py loads.

Run from the repository root when the pickle format is meant to change (and
say so in the changelog); never to make a failing test pass::

    python tests/data/make_pickled_models.py

It fits a few small models on iris and writes ``models-<version>.pkl``: a
dict with the models, the query rows and the predictions each model gave when
it was written.

Keep ``models-0.1.0.dev0.pkl`` as it is: its models predate the folding of
the temperature into ``coef_`` (their ``coef_`` is the trained ``W``, which
the predict methods divided by ``temperature_``), and it is the test that
such models are converted when they load. Bump the version before writing a
new file, so that this one is not overwritten.
"""

import pickle
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_iris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import softreg
from softreg import SoftmaxRegression


def main():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    models = {
        "softmax-strings": SoftmaxRegression(C=0.5).fit(X, names),
        "sparsemax-temperature": SoftmaxRegression(
            normalizer="sparsemax", temperature=2.0
        ).fit(X, y),
        "standard-binary": SoftmaxRegression(normalizer="standard").fit(
            X[:100], y[:100] == 1
        ),
        "entmax15-float32": SoftmaxRegression(normalizer="entmax15").fit(
            X.astype(np.float32), y
        ),
    }
    query = np.vstack([X[::7], X[::11] * 3.0])
    expected = {}
    for name, model in models.items():
        Xq = query.astype(model.coef_.dtype)
        expected[name] = {
            "predict_proba": model.predict_proba(Xq),
            "predict": model.predict(Xq),
            "decision_function": model.decision_function(Xq),
        }
    payload = {
        "machine": machine_fingerprint(),
        "softreg_version": softreg.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "models": models,
        "query": query,
        "expected": expected,
    }
    path = Path(__file__).with_name(f"models-{softreg.__version__}.pkl")
    with open(path, "wb") as f:
        pickle.dump(payload, f, protocol=4)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def machine_fingerprint():
    """What decides the last bits of a prediction: CPU features numpy uses,
    the BLAS kernel, and the library versions. Predictions are compared
    bit for bit only on a machine with the same fingerprint."""
    import platform

    import threadpoolctl

    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - numpy < 2
        __cpu_features__ = {}
    blas = [
        (info.get("internal_api"), info.get("version"), info.get("architecture"))
        for info in threadpoolctl.threadpool_info()
        if info.get("user_api") == "blas"
    ]
    return {
        "machine": platform.machine(),
        "numpy": np.__version__,
        "cpu_features": sorted(k for k, on in __cpu_features__.items() if on),
        "blas": sorted(map(str, blas)),
    }


if __name__ == "__main__":
    main()
