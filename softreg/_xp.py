"""Array API input: fit and predict where the data live (PyTorch, CuPy, ...).

Under ``sklearn.set_config(array_api_dispatch=True)`` an ``X`` of an
array-API library other than NumPy (a PyTorch tensor, a CuPy array, an
``array_api_strict`` array) is fitted in its own namespace and on its own
device: :class:`ArrayAPIRows` is a third rows object beside
:class:`~softreg._blocks.InMemoryRows` and :class:`~softreg._dask.DaskRows`,
whose :meth:`~ArrayAPIRows.map_reduce` runs the same
:class:`~softreg._objective.ChunkKernel` method over large row blocks of the
device arrays. The kernel's linear algebra is the NumPy kernel's (``X @ W^T``
and ``X^T R``) and the normalizers are written once against the namespace
of their scores; only the kernel's few reductions differ, in
:class:`ArrayAPIOps`. The optimiser (scipy) stays on the host: per pass only
the parameters go to the device and the loss and gradient (or Hessian
product) come back.

Labels and sample weights (vectors of ``n_samples`` entries) pass through the
host once per fit, where the classes are encoded and the class weights
applied, as scikit-learn's ``LabelEncoder`` does; ``X`` never leaves its
device.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.externals import array_api_compat
from sklearn.utils._array_api import (
    _convert_to_numpy,
    _is_numpy_namespace,
    _max_precision_float_dtype,
    check_same_namespace,
    get_namespace_and_device,
)
from sklearn.utils.validation import validate_data

from ._blocks import InMemoryRows
from ._data import InMemoryFitData
from ._objective import linear_scores

# Bytes of one row block's scores and temporaries (about eight score-sized
# matrices) plus its rows of X. On a GPU large: every call has a fixed cost
# (a kernel launch) and the device wants millions of elements per call;
# small enough that a block's temporaries stay a fraction of X itself. On a
# CPU the block should stay in cache while X_b W^T and X_b^T R_b are formed:
# torch on 2 cores, 200,000 x 100 float32, 10 classes, measured about 100
# to 160 ms per pass with blocks of 4,096 to 16,384 rows, 215 ms with
# 64 MiB blocks (93,000 rows) and 356 ms with the whole array at once.
_BLOCK_BYTES = {"cpu": 64 << 20, "device": 512 << 20}
_SCORE_COPIES = 8
_MIN_BLOCK_ROWS = 1024


def _block_bytes(device):
    """The block budget for ``device``: CPU devices (torch, array_api_strict) or not."""
    return _BLOCK_BYTES["cpu" if "cpu" in str(device).lower() else "device"]


def array_api_input(X):
    """``(xp, device)`` when ``X`` is to be computed on in its own namespace.

    That is when scikit-learn's ``array_api_dispatch`` is on and ``X`` is an
    array-API array of a library other than NumPy; None otherwise (NumPy,
    scipy.sparse, lists and dataframes take the NumPy path, as in
    scikit-learn, where sparse input is always NumPy/scipy).
    """
    if (
        not get_config()["array_api_dispatch"]
        or isinstance(X, np.ndarray)
        or sp.issparse(X)
        or not array_api_compat.is_array_api_obj(X)
    ):
        return None
    xp, _, device = get_namespace_and_device(X)
    if _is_numpy_namespace(xp):
        return None
    return xp, device


def to_numpy(a):
    """``a`` as a NumPy array on the host (unchanged if not an array-API array)."""
    if a is None or isinstance(a, np.ndarray) or sp.issparse(a):
        return a
    if not array_api_compat.is_array_api_obj(a):
        return a
    return _convert_to_numpy(a, array_api_compat.array_namespace(a))


def numpy_dtype(dtype):
    """The NumPy dtype of the same name as an array-API float dtype."""
    return np.dtype(str(dtype).rsplit(".", 1)[-1])


def is_host_model(estimator):
    """Whether the fitted ``coef_`` is a NumPy array (or scipy.sparse)."""
    coef = estimator.coef_
    return isinstance(coef, np.ndarray) or sp.issparse(coef)


def check_namespace(estimator, X, method):
    """Raise scikit-learn's error if ``X`` and the model use different namespaces.

    With dispatch off, a model fitted on device arrays is refused with the
    way to convert it.
    """
    check_same_namespace(X, estimator, attribute="coef_", method=method)
    if not get_config()["array_api_dispatch"] and not is_host_model(estimator):
        xp = array_api_compat.array_namespace(estimator.coef_)
        raise ValueError(
            f"{type(estimator).__name__} was fitted on {xp.__name__} arrays; call "
            f"{method} under sklearn.config_context(array_api_dispatch=True), or "
            "convert the model to NumPy first with "
            "sklearn.utils._array_api.move_estimator_to(estimator, numpy, 'cpu')."
        )


def _block_slices(n_rows, n_cols, itemsize, device, block_rows=None):
    if block_rows is None:
        budget = _block_bytes(device)
        block_rows = max(_MIN_BLOCK_ROWS, budget // max(1, n_cols * itemsize))
    return [slice(i, min(i + block_rows, n_rows)) for i in range(0, n_rows, block_rows)]


class ArrayAPIOps:
    """The reductions of :class:`~softreg._objective.ChunkKernel` in ``xp``.

    The array-API counterpart of :class:`~softreg._objective.NumpyOps`:
    sums are accumulated on the device in the widest float the device has
    (float64, or float32 on devices without it, e.g. Apple's MPS), and stay
    there until the rows object brings the chunk's result to the host.
    """

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device
        self.acc = _max_precision_float_dtype(xp, device)

    def zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.acc, device=self.device)

    def targets(self, y, n_classes, dtype):
        xp = self.xp
        if y.ndim == 1:
            classes = xp.arange(n_classes, dtype=y.dtype, device=self.device)
            return xp.astype(xp.reshape(y, (-1, 1)) == classes, dtype)
        return y if y.dtype == dtype else xp.astype(y, dtype)

    def row_scale(self, s, scale, dtype):
        return self.xp.reshape(self.xp.astype(s * scale, dtype), (-1, 1))

    def weighted_total(self, s, values):
        xp = self.xp
        return xp.sum(xp.astype(s, self.acc) * xp.astype(values, self.acc))

    def total(self, values):
        return self.xp.sum(values, dtype=self.acc)

    def column_sums(self, R):
        return self.xp.sum(R, axis=0, dtype=self.acc)

    def weighted_column_sums(self, s, Xb):
        return s @ Xb, s @ (Xb * Xb)

    def pair(self, a, factors):
        low, high = (float(f) for f in factors)
        return self.xp.concat([a * low, a * high], axis=-1)


class ArrayAPIChunk:
    """All rows of the device arrays, iterated in large row blocks.

    Offers what :class:`~softreg._objective.ChunkKernel` asks of a chunk:
    iteration over ``(X_b, y_b, s_b)`` (views), :meth:`zeros` and ``ops``.
    """

    def __init__(self, X, y, sample_weight, ops, slices):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.ops = ops
        self.slices = slices

    def __iter__(self):
        for sl in self.slices:
            yield self.X[sl, ...], self.y[sl, ...], self.sample_weight[sl]

    def zeros(self, shape, dtype):
        return self.ops.xp.zeros(shape, dtype=dtype, device=self.ops.device)


class ArrayAPIRows:
    """Training data held by an array-API library, on its device.

    The third rows object of :class:`~softreg._objective.LinearObjective`
    (with :class:`~softreg._blocks.InMemoryRows` and
    :class:`~softreg._dask.DaskRows`), with the same methods.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        float32 or float64, in namespace ``xp`` on ``device``.
    y : array of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels (integers) or soft targets (``X``'s dtype), same
        namespace and device.
    sample_weight : array of shape (n_samples,)
        ``X``'s dtype, class weights folded in.
    n_classes : int
    xp, device
        The namespace and device.
    block_rows : int, default=None
        Rows per block; by default about 64 MiB of block (rows of X and
        score temporaries) on a CPU, 512 MiB on other devices.

    Attributes
    ----------
    bytes_in, bytes_out : int
        Bytes copied to and from the device by all passes so far: the
        parameters in, the loss and gradient (or Hessian product) out.
    """

    #: Array libraries do not multiply float32 by float64 arrays (and some
    #: devices have no float64): the scores stay in ``X``'s dtype.
    mixed_precision = False

    def __init__(self, X, y, sample_weight, n_classes, xp, device, block_rows=None):
        self.X = X
        self.xp = xp
        self.device = device
        self.n_samples, self.n_features = X.shape
        self.dtype = numpy_dtype(X.dtype)
        self.ops = ArrayAPIOps(xp, device)
        self.sw_sum = float(xp.sum(sample_weight, dtype=self.ops.acc))
        equal = self.n_samples > 0 and bool(xp.all(sample_weight == sample_weight[0]))
        self.uniform_weight = float(sample_weight[0]) if equal else None
        n_cols = self.n_features + _SCORE_COPIES * n_classes
        slices = _block_slices(
            self.n_samples, n_cols, self.dtype.itemsize, device, block_rows
        )
        self.chunk = ArrayAPIChunk(X, y, sample_weight, self.ops, slices)
        self.n_passes = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self._moments = None

    def running(self):
        """No thread pool: the array library runs its own (CPU) or the device."""
        return contextlib.nullcontext(self)

    def _to_device(self, a):
        if a is None:
            return None
        self.bytes_in += a.nbytes
        return self.xp.asarray(a, device=self.device)

    def _to_host(self, a):
        if isinstance(a, float | int):
            return a
        out = np.asarray(to_numpy(a), dtype=np.float64)
        self.bytes_out += out.nbytes
        return float(out) if out.ndim == 0 else out

    def map_reduce(self, func, *args):
        """``func(chunk, *args)`` on the device; the result comes back in float64.

        ``args`` (NumPy parameter arrays) are copied to the device first.
        """
        self.n_passes += 1
        parts = func(self.chunk, *(self._to_device(a) for a in args))
        return tuple(self._to_host(p) for p in parts)

    # The same cached pass as in memory: one map_reduce of kernel.moments.
    feature_moments = InMemoryRows.feature_moments

    def memory_estimate(self, n_params, n_score_columns):
        """Host bytes per pass: the parameters and the result, in float64."""
        return int(4 * n_params * 8)


class ArrayAPIFitData(InMemoryFitData):
    """Validated training data on a device, as the estimator's fit sees it.

    The counterpart of :class:`~softreg._data.InMemoryFitData`: ``X`` is on
    the device; the encoded targets and the sample weights are kept on the
    host (they are ``n_samples`` long) for the class totals and class
    weights, and copied to the device once per rows object. The fold
    models of ``temperature="auto"`` and ``calibration`` are fitted on the
    device by InMemoryFitData's loop, with this class's rows and scores.
    """

    def __init__(self, X, targets, classes, sample_weight, xp, device):
        super().__init__(X, targets, classes, sample_weight, make_runner=None)
        self.xp = xp
        self.device = device
        self.dtype = numpy_dtype(X.dtype)

    def _device_targets(self, y):
        # Labels as the index dtype of the device, soft targets in X's dtype.
        y = y.astype(np.int64) if y.ndim == 1 else y.astype(self.dtype)
        return self.xp.asarray(y, device=self.device)

    def _take(self, index):
        return self.xp.take(self.X, self.xp.asarray(index, device=self.device), axis=0)

    def _make_rows(self, X, y, sample_weight):
        # The targets and weights (n_samples long) go to the device once per
        # rows object.
        xp = self.xp
        return ArrayAPIRows(
            X,
            self._device_targets(y),
            xp.asarray(np.asarray(sample_weight, dtype=self.dtype), device=self.device),
            self.classes.size,
            xp,
            self.device,
        )

    def _scores(self, index, coef, intercept):
        # The fold's held-out rows are scored on the device; only their
        # scores (len(index) x n_classes) come to the host.
        xp, device = self.xp, self.device
        Wt = xp.asarray(coef.T.astype(self.dtype), device=device)
        b = xp.asarray(intercept.astype(self.dtype), device=device)
        return to_numpy(linear_scores(self._take(index), Wt, b, 1.0))


def validate_device_X(estimator, X, xp, reset):
    """``X`` validated on its device: 2-D, finite, float64 or float32.

    Other dtypes (integers, float16) become float64, or float32 on a device
    without float64, on the device, as in scikit-learn.
    """
    if sp.issparse(X):  # pragma: no cover - sparse never takes this path
        raise TypeError("Sparse input is NumPy/scipy only.")
    return validate_data(estimator, X, dtype=[xp.float64, xp.float32], reset=reset)


def map_scores(estimator, X, func, xp):
    """``func`` of the scores of ``X`` on its device, block by block.

    Returns an array of ``X``'s namespace and device.
    """

    X = validate_device_X(estimator, X, xp, reset=False)
    coef = estimator._dense_coef()
    dtype = xp.result_type(X.dtype, coef.dtype)
    Wt = xp.astype(coef, dtype).T
    b = xp.astype(estimator.intercept_, dtype)
    inv_t = 1.0  # coef_ and intercept_ hold the temperature (softreg._predict)
    n_cols = X.shape[1] + _SCORE_COPIES * Wt.shape[1]
    slices = _block_slices(
        X.shape[0], n_cols, numpy_dtype(dtype).itemsize, estimator_device(X)
    )
    if len(slices) <= 1:
        return func(linear_scores(X, Wt, b, inv_t))
    parts = [func(linear_scores(X[sl, ...], Wt, b, inv_t)) for sl in slices]
    return xp.concat(parts, axis=0)


def estimator_device(X):
    """The device of the array ``X``."""
    return array_api_compat.device(X)


def labels_of(estimator, indices, xp, device):
    """``classes_[indices]`` in ``X``'s namespace, as scikit-learn's ``predict``.

    The class indices come to the host, where ``classes_`` is; numeric labels
    go back to the device, strings stay a NumPy array.
    """
    labels = estimator.classes_[to_numpy(indices)]
    if labels.dtype.kind in "OUS":
        return labels
    return xp.asarray(labels, device=device)


def fit_inputs(estimator, X, y, sample_weight, xp):
    """Validate device ``X`` and bring ``y`` and the weights to the host.

    Returns ``(X, y, sample_weight)``: ``X`` validated on its device,
    ``y`` and ``sample_weight`` as NumPy arrays (any namespace is accepted
    for them: everything follows ``X``, as in scikit-learn).
    """
    X = validate_device_X(estimator, X, xp, reset=True)
    return X, to_numpy(y), to_numpy(sample_weight)
