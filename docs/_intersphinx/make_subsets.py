"""Write the offline intersphinx inventories used when the live ones fail.

The documentation is often built on machines without network access, where
intersphinx cannot download the inventories of scikit-learn, numpy and scipy.
``docs/conf.py`` lists each live inventory first and the subset written here
second, so an online build uses the full live inventory and an offline build
still links the few names these docs and the gallery refer to.

The entries follow the URL layout of each project's stable documentation
(``.../generated/<name>.html#<name>``). Add a name here and re-run
``python docs/_intersphinx/make_subsets.py`` when a page starts linking it.
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

SKLEARN_API = {
    "py:class": [
        "sklearn.base.BaseEstimator",
        "sklearn.base.ClassifierMixin",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration.CalibrationDisplay",
        "sklearn.exceptions.ConvergenceWarning",
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.LogisticRegressionCV",
        "sklearn.model_selection.GridSearchCV",
        "sklearn.model_selection.StratifiedKFold",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing.LabelEncoder",
        "sklearn.preprocessing.StandardScaler",
    ],
    "py:function": [
        "sklearn.base.clone",
        "sklearn.calibration.calibration_curve",
        "sklearn.datasets.load_breast_cancer",
        "sklearn.datasets.load_digits",
        "sklearn.datasets.load_iris",
        "sklearn.datasets.load_wine",
        "sklearn.metrics.accuracy_score",
        "sklearn.metrics.get_scorer",
        "sklearn.metrics.log_loss",
        "sklearn.model_selection.cross_val_score",
        "sklearn.model_selection.train_test_split",
        "sklearn.pipeline.make_pipeline",
        "sklearn.utils.estimator_checks.check_estimator",
        "sklearn.utils.estimator_checks.parametrize_with_checks",
    ],
}

NUMPY_API = {
    "py:class": ["numpy.ndarray", "numpy.float32", "numpy.float64"],
    "py:function": ["numpy.exp", "numpy.log", "numpy.einsum", "numpy.logaddexp"],
}
NUMPY_EXTRA = [
    # Scalar types and constants live on shared pages, not generated ones.
    ("numpy.float32", "py:class", "reference/arrays.scalars.html#numpy.float32"),
    ("numpy.float64", "py:class", "reference/arrays.scalars.html#numpy.float64"),
    ("numpy.inf", "py:data", "reference/constants.html#numpy.inf"),
]

SCIPY_API = {
    "py:class": ["scipy.sparse.csr_matrix", "scipy.sparse.csr_array"],
    "py:function": [
        "scipy.optimize.minimize",
        "scipy.optimize.check_grad",
        "scipy.special.logsumexp",
        "scipy.special.softmax",
    ],
}


def _generated(api, prefix, skip=()):
    for role, names in api.items():
        for name in names:
            if name not in skip:
                yield name, role, f"{prefix}{name}.html#$"


def _write(filename, project, version, entries):
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in sorted(entries))
    (HERE / filename).write_bytes(
        header.encode() + zlib.compress(body.encode("utf-8"), 9)
    )


def main():
    _write(
        "sklearn-subset.inv",
        "scikit-learn (offline subset)",
        "1.9",
        _generated(SKLEARN_API, "modules/generated/"),
    )
    extra = {name for name, _, _ in NUMPY_EXTRA}
    _write(
        "numpy-subset.inv",
        "NumPy (offline subset)",
        "2",
        [*_generated(NUMPY_API, "reference/generated/", skip=extra), *NUMPY_EXTRA],
    )
    _write(
        "scipy-subset.inv",
        "SciPy (offline subset)",
        "1",
        _generated(SCIPY_API, "reference/generated/"),
    )


if __name__ == "__main__":
    main()
