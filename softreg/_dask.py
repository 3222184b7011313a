"""Dask collections: the objective's passes as tasks over row chunks.

This module is imported only when ``fit`` or a predict method is handed a
Dask collection, so ``import softreg`` never imports Dask.

A pass over the data is the same per-chunk function as in memory
(:class:`softreg._objective.ChunkKernel`), run as one task per row chunk of
``X`` on the workers, followed by a fixed-shape tree of additions of the
small results. Only the kernel and the parameters travel to the workers and
only the reduced sums come back; nothing of ``n_samples`` rows is gathered
on the client. The tree is fixed by the number of chunks, so the sums are
added in the same order whatever worker ran what; on a distributed cluster
a chunk moved between processes may still round its last bits differently
(memory offsets change some kernels' rounding), so refits there agree to the
solver's tolerance rather than bit for bit.
"""

import contextlib
import functools
import warnings
from numbers import Integral

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import assert_all_finite, check_consistent_length
from sklearn.utils.validation import _check_sample_weight

from ._blocks import Chunk, _blas_limit, add_parts, resolve_n_threads
from ._objective import linear_scores, map_score_blocks
from ._temperature import temperature_terms

# Results of this many chunks are added by one task of the reduction tree:
# few levels (each is a round trip through the scheduler) yet small tasks.
_FAN_IN = 8


def _tree_sum(parts, combine=None):
    """Combine delayed per-chunk results by a tree of fixed shape.

    ``combine(*parts)`` merges up to ``_FAN_IN`` results; by default they
    are added with :func:`softreg._blocks.add_parts`, left to right.
    """
    combine = _sum if combine is None else combine
    while len(parts) > 1:
        parts = [
            dask.delayed(combine, pure=False)(*parts[i : i + _FAN_IN])
            for i in range(0, len(parts), _FAN_IN)
        ]
    return parts[0]


def _sum(*parts):
    total = parts[0]
    for part in parts[1:]:
        total = add_parts(total, part)
    return total


def _as_rows(Xc, dtype):
    """A chunk of ``X`` as the objective reads it: CSR or a dense ndarray."""
    if sp.issparse(Xc):
        return sp.csr_matrix(Xc, dtype=dtype)
    return np.asarray(Xc, dtype=dtype)


# ---------------------------------------------------------------------------
# Input conversion and the first pass


def _to_array(obj, name, ensure_known=True):
    """A Dask array of a Dask array, dataframe or series, with known chunks."""
    if isinstance(obj, da.Array):
        arr = obj
    elif hasattr(obj, "to_dask_array"):
        # lengths=True computes the partition lengths (one pass over the
        # frame) so that rows can be aligned with y and counted.
        arr = obj.to_dask_array(lengths=True if ensure_known else None)
    elif dask.is_dask_collection(obj):
        raise TypeError(
            f"{name} is a Dask collection of type {type(obj).__name__}; "
            "SoftmaxRegression takes dask arrays and dask dataframes/series."
        )
    else:
        # In memory beside Dask data (y or weights of a Dask X): one chunk,
        # rechunked to the rows of X by the caller.
        arr = da.from_array(np.asarray(obj), chunks=-1)
    if ensure_known and any(np.isnan(c) for c in arr.chunks[0]):
        # Unknown chunk sizes (e.g. rows filtered by a boolean mask): count
        # them once, which reads the data once.
        arr = arr.compute_chunk_sizes()
    return arr


def validation_view(X):
    """What scikit-learn's ``validate_data`` can read feature names and counts from.

    scikit-learn reads column names from eager dataframes only; a Dask
    dataframe's ``_meta`` is the empty pandas frame with its columns.
    """
    return X._meta if hasattr(X, "columns") else X


def _row_aligned(arr, row_chunks):
    if arr.chunks[0] != row_chunks:
        arr = arr.rechunk({0: row_chunks})
    return arr


def check_dask_X(X, dtype_from=None, ensure_known=True, convert=True):
    """``X`` as a 2-D Dask array with one column chunk.

    With ``convert``, also of float32/float64 dtype (else each task converts
    its chunk: one task per chunk and pass, not two).
    """
    X = _to_array(X, "X", ensure_known)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got a {X.ndim}D dask array instead. Reshape "
            "your data: X must have shape (n_samples, n_features)."
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if convert:
        dtype = _float_dtype(X.dtype)
        if dtype_from is not None:
            dtype = np.result_type(dtype, dtype_from)
        if X.dtype != dtype:
            X = X.astype(dtype)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _chunk_stats(Xc, yc, sc):
    """Labels with their weight sums and weighted feature sums; checks."""
    assert_all_finite(Xc, input_name="X")
    sc = _check_sample_weight(sc, yc, dtype=np.float64, ensure_non_negative=True)
    labels, inverse = np.unique(yc, return_inverse=True)
    n = yc.shape[0]
    # Per-label weighted sums of x and x^2, so that any class weights can be
    # applied on the client after the pass.
    S = sp.csr_matrix((sc, (inverse.ravel(), np.arange(n))), shape=(labels.size, n))
    if sp.issparse(Xc):
        Xc = sp.csr_matrix(Xc)
        M = (S @ Xc).toarray()
        Q = (S @ Xc.multiply(Xc)).toarray()
    else:
        Xc = np.asarray(Xc, dtype=np.float64)
        M = np.asarray(S @ Xc)
        Q = np.asarray(S @ np.square(Xc))
    weights = np.asarray(S.sum(axis=1)).ravel()
    sw_range = (float(sc.min()), float(sc.max())) if n else (np.inf, -np.inf)
    return labels, weights, M, Q, sw_range


def _merge_stats(*parts):
    labels = parts[0][0]
    for part in parts[1:]:
        labels = np.union1d(labels, part[0])
    p = parts[0][2].shape[1]
    weights = np.zeros(labels.size)
    M = np.zeros((labels.size, p))
    Q = np.zeros((labels.size, p))
    lo, hi = np.inf, -np.inf
    for part_labels, w, m, q, (a, b) in parts:
        idx = np.searchsorted(labels, part_labels)
        weights[idx] += w
        M[idx] += m
        Q[idx] += q
        lo, hi = min(lo, a), max(hi, b)
    return labels, weights, M, Q, (lo, hi)


class ChunkPrep:
    """How a task turns its raw chunks of ``X``, ``y`` and weights into a Chunk.

    Label encoding, class weights and the fold of ``temperature="auto"``
    are applied inside each task, so that a pass is one task per chunk,
    whatever the weighting, and no encoded or weighted copy of ``y`` needs
    to be kept anywhere.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
    class_weight : ndarray of shape (n_classes,)
    dtype : dtype
        Of ``X``'s chunks as the kernel reads them.
    fold : tuple or None
        ``(n_folds, seed, k)``: the weights of fold ``k``'s rows are zero
        (``k=None``: no fold dropped).
    """

    def __init__(self, classes, class_weight, dtype, fold=None):
        self.classes = classes
        self.class_weight = np.asarray(class_weight, dtype=np.float64)
        self.dtype = np.dtype(dtype)
        self.fold = fold

    def labels_weights(self, yc, sc, index):
        """Encoded labels and final weights of one chunk."""
        y = np.searchsorted(self.classes, yc)
        s = np.ones(y.shape[0]) if sc is None else sc
        s = np.asarray(s * self.class_weight[y], dtype=self.dtype)
        if self.fold is not None and self.fold[2] is not None:
            s[self.fold_ids(y, index) == self.fold[2]] = 0
        return y, s

    def fold_ids(self, y, index):
        """Fold of every row of chunk ``index``: shuffled, dealt class by class."""
        n_folds, seed, _ = self.fold
        return _fold_ids(y, n_folds, seed, (index,))

    def chunk(self, Xc, yc, sc, index):
        y, s = self.labels_weights(yc, sc, index)
        return Chunk.whole(_as_rows(Xc, self.dtype), y, s, self.classes.size)


def _run_chunk(packed, Xc, yc, sc, index):
    func, args, prep = packed
    return func(prep.chunk(Xc, yc, sc, index), *args)


class DaskFitData:
    """Validated Dask training data and what the first pass learnt of it.

    Parameters
    ----------
    X : dask array or dataframe of shape (n_samples, n_features)
    y : dask array or series of shape (n_samples,)
    sample_weight : dask array of shape (n_samples,) or None

    Attributes
    ----------
    classes : ndarray
        Sorted distinct labels.
    class_totals : ndarray of shape (n_classes,)
        Sum of the sample weights of each class.
    n_passes : int
        Passes over the data so far (chunk-size counting included).
    """

    def __init__(self, X, y, sample_weight):
        X = check_dask_X(X, convert=False)
        y = _to_array(y, "y")
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. "
                "Please change the shape of y to (n_samples, ), for example "
                "using ravel().",
                DataConversionWarning,
                stacklevel=4,
            )
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(
                f"y should be a 1d array, got a dask array of shape {y.shape} instead."
            )
        check_consistent_length(X, y)
        rows = X.chunks[0]
        y = _row_aligned(y, rows)
        sw = None
        if sample_weight is not None and np.ndim(sample_weight) == 0:
            sw = da.full(X.shape[0], sample_weight, chunks=(rows,))
        elif sample_weight is not None:
            sw = _to_array(sample_weight, "sample_weight")
            check_consistent_length(X, sw)
            sw = _row_aligned(sw, rows)
        self.dtype = _float_dtype(X.dtype)
        self.n_samples, self.n_features = X.shape
        self._parts = _chunk_parts(X, y, sw)
        tasks = [
            dask.delayed(_chunk_stats, pure=False)(x, yc, s)
            for x, yc, s, _ in self._parts
        ]
        with _local_blas_limit():
            (labels, weights, M, Q, sw_range) = dask.compute(
                _tree_sum(tasks, _merge_stats)
            )[0]
        self.n_passes = 1
        self.classes = labels
        self.class_totals = weights
        self._sums = M, Q
        self._sw_range = sw_range

    def rows(self, class_weight, fold=None, sw_sum=None):
        """The rows object of a fit: all rows, or all but one fold's.

        Parameters
        ----------
        class_weight : ndarray of shape (n_classes,)
            Multiplies the sample weight of every sample of each class.
        fold : tuple, default=None
            ``(n_folds, seed, k)`` to leave fold ``k`` out (its weights zero).
        sw_sum : float, default=None
            Total weight of the rows kept, when a fold is left out.

        Returns
        -------
        rows : DaskRows
        """
        cw = np.asarray(class_weight, dtype=np.float64)
        prep = ChunkPrep(self.classes, cw, self.dtype, fold)
        M, Q = self._sums
        total = float(cw @ self.class_totals)
        lo, hi = self._sw_range
        uniform = None
        if fold is None and lo == hi and np.all(cw == cw[0]):
            uniform = float(lo * cw[0])
        # The standardising statistics of all rows serve the folds too: the
        # change of variables is exact whatever statistics define it.
        moments = (cw @ M / total, cw @ Q / total)
        sw_sum = total if sw_sum is None else sw_sum
        return DaskRows(self._parts, prep, self.shape, sw_sum, uniform, moments)

    @property
    def shape(self):
        return self.n_samples, self.n_features

    def out_of_fold_terms(self, estimator, class_weight, splitter):
        """Held-out criterion of ``temperature="auto"`` as a function of ``log T``.

        Folds are drawn chunk by chunk, stratified within each chunk, from
        ``splitter``'s ``n_splits`` and seed, so no row index crosses to the
        client. Fold ``k``'s model is the objective with the weights of fold
        ``k``'s rows set to zero: same chunks, no copy of ``X``. The
        out-of-fold scores (``n_samples x n_classes``) are persisted on the
        workers during the one-dimensional search over ``T``.
        """
        n_folds, seed = _fold_plan(splitter)
        prep = ChunkPrep(self.classes, class_weight, self.dtype, (n_folds, seed, None))
        tasks = [
            dask.delayed(_fold_totals, pure=False)(prep, yc, s, i)
            for _, yc, s, i in self._parts
        ]
        fold_totals = dask.compute(_tree_sum(tasks))[0][0]
        K = self.classes.size
        coefs, intercepts = [], []
        for k in range(n_folds):
            rows = self.rows(
                class_weight,
                (n_folds, seed, k),
                float(fold_totals.sum() - fold_totals[k]),
            )
            coef, intercept, _ = estimator._solve(rows, K, 1.0, False)
            self.n_passes += rows.n_passes
            coefs.append(coef.T.astype(self.dtype))
            intercepts.append(intercept.astype(self.dtype))
        Wts, bs = np.stack(coefs), np.stack(intercepts)
        scores = dask.persist(
            *[
                dask.delayed(_out_of_fold_scores, pure=False)(prep, x, yc, i, Wts, bs)
                for x, yc, _, i in self._parts
            ]
        )
        self.n_passes += 1
        normalizer = estimator.normalizer_
        total = float(fold_totals.sum())

        def terms(log_t):
            sums = [
                dask.delayed(_chunk_temperature_terms, pure=False)(
                    prep, normalizer, z, yc, s, i, log_t
                )
                for z, (_, yc, s, i) in zip(scores, self._parts, strict=True)
            ]
            loss, slope = dask.compute(_tree_sum(sums))[0]
            return loss / total, slope / total

        # The prior on log T counts the held-out rows (minimize_temperature).
        terms.total_weight = total
        return terms


def _float_dtype(dtype):
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _chunk_parts(X, y, sw):
    """``(X_c, y_c, s_c, index)`` delayed chunks; ``s_c`` None without weights."""
    xs, ys = X.to_delayed().ravel(), y.to_delayed().ravel()
    ss = [None] * len(xs) if sw is None else sw.to_delayed().ravel()
    return list(zip(xs, ys, ss, range(len(xs)), strict=True))


def _fold_plan(splitter):
    """``(n_splits, seed)`` of a shuffled K-fold splitter with an int seed."""
    n_splits = getattr(splitter, "n_splits", None)
    seed = getattr(splitter, "random_state", None)
    if not isinstance(n_splits, Integral) or not isinstance(seed, Integral):
        raise ValueError(
            "With Dask input, temperature='auto' draws its folds chunk by chunk "
            "and needs cv to be an int (the number of folds); got "
            f"cv={splitter!r}."
        )
    return int(n_splits), int(seed)


def _fold_ids(y, n_folds, seed, block_id):
    """Fold of every row of a chunk: shuffled, then dealt out class by class."""
    rng = np.random.default_rng([seed, *block_id])
    order = rng.permutation(y.shape[0])
    # Stable sort by label of the shuffled rows: each class's rows are dealt
    # to the folds in turn, so every fold gets its share of every class.
    by_class = order[np.argsort(y[order], kind="stable")]
    folds = np.empty(y.shape[0], dtype=np.int8)
    folds[by_class] = np.arange(y.shape[0]) % n_folds
    return folds


def _fold_totals(prep, yc, sc, index):
    y, s = prep.labels_weights(yc, sc, index)
    folds = prep.fold_ids(y, index)
    return (np.bincount(folds, weights=s, minlength=prep.fold[0]),)


def _out_of_fold_scores(prep, Xc, yc, index, Wts, bs):
    y, _ = prep.labels_weights(yc, None, index)
    folds = prep.fold_ids(y, index)
    Xc = _as_rows(Xc, prep.dtype)
    Z = np.empty((Xc.shape[0], Wts.shape[2]), dtype=prep.dtype)
    for k in range(Wts.shape[0]):
        mask = folds == k
        Z[mask] = linear_scores(Xc[mask], Wts[k], bs[k], 1.0)
    return Z


def _chunk_temperature_terms(prep, normalizer, Z, yc, sc, index, log_t):
    y, s = prep.labels_weights(yc, sc, index)
    return temperature_terms(normalizer, Z, y, s, log_t)


@contextlib.contextmanager
def _local_blas_limit():
    """One BLAS thread in this process while a Dask fit runs.

    Dask's local threads (no client, or a cluster with ``processes=False``)
    already run one task per core in this process; BLAS threads on top
    oversubscribe the cores, and numpy's and scipy's two OpenBLAS pools
    spinning against each other slow the products many times over. The
    client itself only runs the optimiser's small vector updates meanwhile.
    ``distributed``'s worker processes limit their own BLAS
    (``OMP_NUM_THREADS=1`` and friends in their environment).
    """
    if resolve_n_threads(None) > 1:
        with _blas_limit():
            yield
    else:
        yield


class DaskRows:
    """Training data in Dask chunks, evaluated as one task per row chunk.

    Has the methods of :class:`softreg._blocks.InMemoryRows`, so that
    :class:`softreg._objective.LinearObjective` runs on it unchanged.

    Parameters
    ----------
    parts : list of tuple
        ``(X_c, y_c, s_c, index)`` per row chunk: delayed chunks of ``X``
        (one column chunk; dense or scipy.sparse), of the raw labels and of
        the raw sample weights (or None).
    prep : ChunkPrep
        Encoding, weighting and fold of the chunks.
    shape : tuple
        ``(n_samples, n_features)``.
    sw_sum : float
        Total weight of the rows in the fit.
    uniform_weight : float or None
    moments : tuple of ndarray
        Weighted column means and mean squares, from the first pass.
    """

    #: The chunks are NumPy blocks, as in memory: float32 data can be
    #: evaluated with float64 scores (see :class:`~softreg._blocks.InMemoryRows`).
    mixed_precision = True

    def __init__(self, parts, prep, shape, sw_sum, uniform_weight, moments):
        self._parts = parts
        self.prep = prep
        self.n_samples, self.n_features = shape
        self.dtype = prep.dtype
        self.sw_sum = sw_sum
        self.uniform_weight = uniform_weight
        self.moments = moments
        self.n_passes = 0

    @property
    def n_chunks(self):
        return len(self._parts)

    def running(self):
        """Context of a fit: BLAS limited when Dask's local threads run it."""
        return _local_blas_limit()

    def map_reduce(self, func, *args):
        """``func(chunk, *args)`` on every row chunk, summed by a fixed tree."""
        self.n_passes += 1
        # Random keys (pure=False): hashing the kernel and the parameters to
        # name the tasks cost milliseconds a pass, and no pass is reused.
        packed = dask.delayed((func, args, self.prep), pure=False, traverse=False)
        run = dask.delayed(_run_chunk, pure=False)
        parts = [run(packed, x, y, s, i) for x, y, s, i in self._parts]
        return dask.compute(_tree_sum(parts))[0]

    def feature_moments(self, kernel):
        """The weighted column moments, known from the first pass."""
        return self.moments

    def memory_estimate(self, n_params, n_score_columns):
        """Client memory per pass: the reduced sums (the data stay on workers)."""
        return 2 * n_params * 8


# ---------------------------------------------------------------------------
# Prediction


def _score_chunk(Xc, Wt, b, func, inv_temperature, dtype):
    return map_score_blocks(
        _as_rows(Xc, dtype), Wt, b, func, None, inv_temperature, check_finite=True
    )


def map_scores(X, Wt, b, func, inv_temperature, n_classes):
    """Lazy ``func`` of the score blocks of a Dask ``X``, chunk by chunk.

    Parameters
    ----------
    X : dask array or dataframe of shape (n_samples, n_features)
    Wt : ndarray of shape (n_features, n_classes)
    b : ndarray of shape (n_classes,)
    func : callable
        Score block -> block of ``n_classes`` columns (probabilities,
        log-probabilities, decision scores).
    inv_temperature : float
    n_classes : int

    Returns
    -------
    out : dask array of shape (n_samples, n_classes)
        With the row chunks of ``X`` (unknown sizes stay unknown), in the
        wider of the float dtypes of ``X`` and ``Wt``.
    """
    X = check_dask_X(X, dtype_from=Wt.dtype, ensure_known=False)
    Wt = Wt.astype(X.dtype)
    b = b.astype(X.dtype)
    return X.map_blocks(
        _score_chunk,
        Wt,
        b,
        func,
        inv_temperature,
        X.dtype,
        dtype=X.dtype,
        chunks=(X.chunks[0], (n_classes,)),
        meta=np.empty((0, n_classes), dtype=X.dtype),
    )


def score(estimator, X, y, sample_weight=None):
    """Accuracy of the predictions on ``X`` against ``y``, reduced on the workers.

    ``X``, ``y`` and ``sample_weight`` are aligned by rows, so a dataframe's
    unknown partition lengths are counted first.
    """
    X = check_dask_X(X, dtype_from=estimator.coef_.dtype)
    proba = map_scores(
        X,
        estimator._dense_coef().T,
        estimator.intercept_,
        estimator.normalizer_,
        1.0,  # coef_ and intercept_ hold the temperature (softreg._predict)
        estimator.classes_.size,
    )
    rows = X.chunks[0]
    pred = proba.argmax(axis=1).map_blocks(
        functools.partial(np.take, estimator.classes_),
        dtype=estimator.classes_.dtype,
    )
    y = _row_aligned(_to_array(y, "y"), rows)
    hits = (pred == y).astype(np.float64)
    if sample_weight is None:
        return float(hits.mean().compute())
    sw = _row_aligned(_to_array(sample_weight, "sample_weight"), rows)
    sw = sw.astype(np.float64)
    num, den = dask.compute((hits * sw).sum(), sw.sum())
    return float(num / den)
