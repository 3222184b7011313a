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

from ._cli import DEFAULT_MAX_ITER, DEFAULT_TOL, main
from ._datasets import DATASETS, make_dataset
from ._estimators import (
    available_memory,
    estimator_names,
    make_estimator,
    skip_reason,
    sklearn_objective,
)
from ._measure import (
    _memory_child,
    _peak_memory_subprocess,
    _save_dataset,
    machine_info,
)
from ._report import METHOD, fit_table, kernel_table, render, target_table

__all__ = [
    "DATASETS",
    "DEFAULT_MAX_ITER",
    "DEFAULT_TOL",
    "METHOD",
    "_memory_child",
    "_peak_memory_subprocess",
    "_save_dataset",
    "available_memory",
    "estimator_names",
    "fit_table",
    "kernel_table",
    "machine_info",
    "main",
    "make_dataset",
    "make_estimator",
    "render",
    "skip_reason",
    "sklearn_objective",
    "target_table",
]
