"""What keeps a fit safe to interrupt, to run beside others, and within memory.

* :func:`guarded_fit` wraps ``fit``: the whole call holds the process-wide
  single-threaded BLAS (:func:`softreg._blocks.single_threaded_blas`), so its
  results do not depend on what runs beside it, and an exception (including
  ``KeyboardInterrupt``) leaves the estimator unfitted rather than half
  refitted.
* :func:`check_fit_memory` refuses, before anything is allocated, a fit whose
  parameter vectors, out-of-fold score matrix or per-thread buffers would not
  fit in the memory available, with the size in GiB.
"""

import functools
import sys

import numpy as np

from ._blocks import _BLOCK_BYTES, _CHUNKS_PER_THREAD, single_threaded_blas
from ._solvers import _LBFGS_VECTORS, require_memory

_GIB = 1 << 30


def _fitted_attributes(estimator):
    # check_is_fitted's definition: public attributes ending in "_".
    return [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]


def guarded_fit(fit):
    """Decorate ``fit``: BLAS held at one thread, unfitted on any exception.

    On an exception the fitted attributes (those ending in ``_``) are
    removed, so :func:`~sklearn.utils.validation.check_is_fitted` raises
    instead of reporting a model mixing the previous fit's ``coef_`` with
    this fit's ``classes_``.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        try:
            with single_threaded_blas():
                return fit(self, *args, **kwargs)
        except BaseException:
            for name in _fitted_attributes(self):
                delattr(self, name)
            raise

    return wrapper


def fit_memory_bytes(X, n_classes, *, fit_intercept, n_threads, out_of_fold):
    """Bytes a fit allocates beyond ``X``, by item, for :func:`check_fit_memory`.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    n_classes : int
    fit_intercept : bool
    n_threads : int
    out_of_fold : bool
        Whether ``temperature="auto"`` cross-validates.

    Returns
    -------
    parts : dict of str to int
        ``"parameters"``: L-BFGS-B's float64 vectors of ``n_params``;
        ``"gradient buffers"``: one ``n_features x n_classes`` accumulator per
        chunk; ``"score blocks"``: each thread's block of scores and
        temporaries; with ``out_of_fold``, ``"out-of-fold scores"``: the
        ``n_samples x n_classes`` matrix, and ``"fold copies"``: a training
        fold's copy of ``X``.
    """
    n_samples, n_features = X.shape
    itemsize = X.dtype.itemsize
    n_params = (n_features + int(fit_intercept)) * n_classes
    n_chunks = 1 if n_threads <= 1 else _CHUNKS_PER_THREAD * n_threads
    parts = {
        "parameters": _LBFGS_VECTORS * n_params * 8,
        "gradient buffers": n_chunks * n_features * n_classes * itemsize,
        # At least one row per block, each with ~8 score-sized temporaries.
        "score blocks": n_threads * max(_BLOCK_BYTES, 8 * n_classes * itemsize),
    }
    if out_of_fold:
        parts["out-of-fold scores"] = n_samples * n_classes * itemsize
        size = X.nnz * (itemsize + 4) if hasattr(X, "nnz") else X.size * itemsize
        parts["fold copies"] = int(size)
    return parts


def check_fit_memory(X, n_classes, **kwargs):
    """Raise MemoryError, before allocating, if a fit cannot fit in memory.

    Keyword arguments are those of :func:`fit_memory_bytes`. Nothing is
    checked when the available memory is unknown.
    """
    parts = fit_memory_bytes(X, n_classes, **kwargs)
    detail = ", ".join(f"{k} {v / _GIB:.2f} GiB" for k, v in parts.items())
    hint = ", or use a fixed temperature" if "fold copies" in parts else ""
    require_memory(
        sum(parts.values()),
        "This fit",
        f" of memory beyond X ({detail}) for {X.shape[1]} features x "
        f"{n_classes} classes",
        "Reduce the number of features or classes (e.g. with feature selection "
        f"or hashing){hint}.",
    )


def native_input(X):
    """``X`` with what validation would mishandle made explicit.

    * A numpy array of non-native byte order is byte-swapped, keeping its
      dtype (validation would turn big-endian float32 into float64).
    * A numpy array whose data are not aligned to their item size (a view
      into a received network buffer, as ``dask.compute`` returns from a
      ``distributed`` cluster) is copied once: every pass over unaligned
      float32 data was measured 2.7x slower (640 vs 235 ms for 2,000,000 x
      100, two classes), so the copy pays for itself in the first pass.
    * A pandas DataFrame with nullable columns (``Float64``, ``Int64``,
      ``boolean``) holding ``pd.NA`` is refused with the columns named,
      rather than reported as NaN after conversion.
    """
    dtype = getattr(X, "dtype", None)
    if isinstance(X, np.ndarray) and not dtype.isnative:
        return X.astype(dtype.newbyteorder("="))
    if isinstance(X, np.ndarray) and not X.flags.aligned:
        return np.require(X, requirements="A")
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "isna") and hasattr(dtypes, "items"):
        # Positions, not labels: column names may repeat.
        nullable = [i for i, dt in enumerate(dtypes) if not isinstance(dt, np.dtype)]
        if nullable:
            missing = [
                X.columns[i] for i in nullable if bool(X.iloc[:, i].isna().any())
            ]
            if missing:
                raise ValueError(
                    f"X contains missing values (pd.NA or NaN) in column(s) "
                    f"{missing}; SoftmaxRegression needs complete data. Drop "
                    "or impute them first (e.g. sklearn.impute.SimpleImputer)."
                )
    return X


def native_labels(y):
    """Nullable pandas labels (``boolean``, ``Int64``) as numpy bool/int.

    scikit-learn's validation turns them into floats (classes ``[0., 1.]``
    instead of ``[False, True]``); labels with ``pd.NA`` get a clear error.
    """
    dtype = getattr(y, "dtype", None)
    if (
        dtype is None
        or isinstance(dtype, np.dtype)
        or not hasattr(y, "isna")
        or getattr(dtype, "kind", None) not in ("b", "i", "u")
        or getattr(y, "ndim", 1) != 1
    ):
        return y
    if y.isna().any():
        raise ValueError(
            f"y contains {int(y.isna().sum())} missing label(s) (pd.NA); drop "
            "those rows or give them a class first."
        )
    return y.to_numpy(dtype=dtype.numpy_dtype)


def is_dask(obj):
    """Whether ``obj`` is a Dask collection, without importing Dask."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(obj)
