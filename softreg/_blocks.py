"""Row blocks of ``X``, the chunks that group them, and the thread pool.

The objective never touches ``X`` as a whole. It cuts the rows into *blocks*
small enough that a block of ``X`` and its score matrices stay in a core's L2
cache while both products ``X_b W^T`` and ``X_b^T R_b`` are formed, and it
groups consecutive blocks into *chunks*, one task of the thread pool each.
Every chunk accumulates into its own buffer and the chunk results are summed
in chunk order, so the result does not depend on which thread ran what.
"""

import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import numpy as np
import scipy.sparse as sp
import threadpoolctl
from joblib import cpu_count, effective_n_jobs
from threadpoolctl import ThreadpoolController

try:  # The C++ kernels behind ``csr @ dense``; they accumulate into their output.
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover - scipy moved a private module
    _sparsetools = None

# Bytes of one dense block: its rows of X plus about six score-sized
# matrices (scores, targets, the normalizer's temporaries, gradient rows).
# A few MiB per thread: the block is re-read from cache by the second
# product, and each numpy call works on thousands of rows, which amortises
# its fixed overhead (a 100-column float64 block is ~2500 rows, a 20-column
# one ~8000). Measured on 2 cores with 1 MiB L2 and 32 MiB shared L3: a
# quarter of this was 1.3-2x slower, four times it no faster.
_BLOCK_BYTES = 3 << 20
_SCORE_COPIES = 6
# Stored entries of one sparse block: the gather/scatter over W^T is what
# costs there, so blocks are sized by their work rather than by cache.
_BLOCK_NNZ = 1 << 17
_MIN_BLOCK_ROWS = 64
_MAX_BLOCK_ROWS = 1 << 14
# Block target matrices of at most this many bytes in all are kept with the
# rows whatever X's size (see InMemoryRows).
_KEPT_TARGET_BYTES = 1 << 20
# Chunks per thread: a few, so that a core slowed down by another process
# does not hold up the whole evaluation, yet few enough that the per-chunk
# gradient buffers stay small next to the parameters.
_CHUNKS_PER_THREAD = 4
# ... unless their gradient buffers (n_features x n_classes each) would add
# more than this: wide sparse problems then get one chunk per thread.
_CHUNK_BUFFER_BYTES = 8 << 20
# float64 data with fewer entries than this get no float32 copy for the
# early passes (see InMemoryRows.coarse): a pass over them costs about its
# fixed overhead whatever the dtype, so the copy and the full-precision pass
# that ends the coarse stage cost more than they save. Measured (standardised,
# single fits): iris, wine 13% slower with the copy, breast_cancer (17070
# entries) 4% slower, a digits fold (1437 x 64 = 91968) 15-25% faster.
_COARSE_MIN_ENTRIES = 1 << 16


@functools.cache
def _physical_cores():
    # joblib reads the cgroup files on every call: ~0.2 ms, as much as a
    # whole one-row predict_proba. The count does not change while we run.
    return cpu_count(only_physical_cores=True)


def _omp_env_threads():
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    return None


def _openmp_budget():
    """Threads an OpenMP parallel region started here would get, or None.

    scikit-learn's own multi-threaded code sizes itself with this number
    (``sklearn.utils._openmp_helpers._openmp_effective_n_threads``): it is
    ``omp_get_max_threads()``, which follows ``OMP_NUM_THREADS`` (joblib's
    loky workers get ``cpu_count() // n_jobs`` there) and threadpoolctl's
    limits (``threadpool_limits(1)``, as set by code that runs softreg
    inside its own workers), capped by the CPUs of the cgroup. Reading it
    costs about a microsecond, so it is read at every fit and follows a
    limit entered after softreg was imported.
    """
    # The variable itself too: the OpenMP runtime reads it once, when it is
    # loaded, and a process may set it later (before starting its threads).
    env = _omp_env_threads()
    try:
        from sklearn.utils._openmp_helpers import (
            _openmp_effective_n_threads,
            _openmp_parallelism_enabled,
        )
    except ImportError:  # pragma: no cover - scikit-learn moved a private helper
        return env
    if not _openmp_parallelism_enabled():
        # A scikit-learn built without OpenMP says 1 whatever the budget.
        return env
    omp = int(_openmp_effective_n_threads())
    return omp if env is None else min(env, omp)


def default_n_threads():
    """Threads used when ``n_jobs=None``: one per physical core, within budget.

    The budget is the one scikit-learn's OpenMP code respects (see
    :func:`_openmp_budget`): ``OMP_NUM_THREADS``, which joblib sets in its
    worker processes so that nested parallelism
    (``GridSearchCV(n_jobs=-1)``, ``cross_val_score(n_jobs=-1)``) does not
    oversubscribe the machine, and an active
    ``threadpoolctl.threadpool_limits`` on OpenMP (or on every library).
    """
    n = _physical_cores()
    budget = _openmp_budget()
    if budget is not None and budget > 0:
        n = min(n, budget)
    return max(1, n)


def resolve_n_threads(n_jobs):
    """Number of worker threads for an estimator's ``n_jobs``.

    ``None`` means :func:`default_n_threads`; negative values count back
    from the number of CPUs as in joblib (``-1`` is all of them).
    """
    if n_jobs is None:
        return default_n_threads()
    return max(1, int(effective_n_jobs(n_jobs)))


def block_slices(n_rows, n_cols, itemsize, block_rows=None):
    """Contiguous row slices that cover ``range(n_rows)`` in order.

    Parameters
    ----------
    n_rows : int
    n_cols : int
        Values per row that a block keeps in cache (features plus a few
        times the classes).
    itemsize : int
        Bytes per value.
    block_rows : int, default=None
        Rows per block; by default about ``_BLOCK_BYTES`` bytes' worth.

    Returns
    -------
    slices : list of slice
    """
    if block_rows is None:
        block_rows = _BLOCK_BYTES // max(1, n_cols * itemsize)
        block_rows = min(_MAX_BLOCK_ROWS, max(_MIN_BLOCK_ROWS, block_rows))
    block_rows = max(1, int(block_rows))
    return [slice(i, min(i + block_rows, n_rows)) for i in range(0, n_rows, block_rows)]


def sparse_block_slices(indptr, block_rows=None):
    """Row slices of a CSR matrix holding about ``_BLOCK_NNZ`` entries each."""
    n_rows = indptr.shape[0] - 1
    if block_rows is not None or n_rows == 0:
        return block_slices(n_rows, 1, 1, block_rows or 1)
    # Cut where the running count of entries crosses multiples of the target,
    # so that rows of very different lengths still give even blocks.
    cuts = np.searchsorted(indptr, np.arange(_BLOCK_NNZ, indptr[-1], _BLOCK_NNZ))
    bounds = np.unique(np.concatenate([[0], cuts, [n_rows]]))
    slices, start = [], 0
    for stop in bounds[1:]:
        stop = int(stop)
        if stop - start >= _MIN_BLOCK_ROWS or stop == n_rows:
            slices.append(slice(start, stop))
            start = stop
    return slices


def chunk_ranges(n_blocks, n_threads, max_chunks=None):
    """Split ``range(n_blocks)`` into consecutive ``(start, stop)`` chunks.

    One chunk when running serially; otherwise up to ``_CHUNKS_PER_THREAD``
    per thread (and at most ``max_chunks``, but never fewer than one per
    thread), of sizes differing by at most one block.
    """
    n_chunks = 1 if n_threads <= 1 else min(n_blocks, _CHUNKS_PER_THREAD * n_threads)
    if max_chunks is not None and n_threads > 1:
        n_chunks = min(n_chunks, max(n_threads, int(max_chunks)))
    n_chunks = max(1, n_chunks)
    if n_chunks == 1:  # every serial fit: np.linspace alone takes 5-8 us
        return [(0, n_blocks)]
    edges = np.linspace(0, n_blocks, n_chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


class CSRBlock:
    """Rows ``start:stop`` of a CSR matrix, as views of its arrays.

    Slicing a ``csr_matrix`` copies the block's indices and values; this
    keeps views of the parent's arrays and calls scipy's kernels on them,
    which accumulate into a caller-owned output.
    """

    def __init__(self, X, sl):
        self.X = X
        self.start, self.stop = sl.start, sl.stop
        self.shape = (self.stop - self.start, X.shape[1])
        self.dtype = X.data.dtype
        # Offsets stay absolute: the kernels index data/indices through them.
        self.indptr = X.indptr[self.start : self.stop + 1]

    @property
    def nnz(self):
        return int(self.indptr[-1] - self.indptr[0])

    def matmul(self, B):
        """``X_b @ B`` for a dense ``B``, in the wider of the two dtypes."""
        if _sparsetools is None or np.result_type(self.dtype, B.dtype) != self.dtype:
            # scipy's public product upcasts float32 data for a float64 B.
            return np.asarray(self._public() @ B)
        out = np.zeros((self.shape[0], B.shape[1]), dtype=self.dtype)
        _sparsetools.csr_matvecs(
            self.shape[0],
            self.shape[1],
            B.shape[1],
            self.indptr,
            self.X.indices,
            self.X.data,
            np.ascontiguousarray(B, dtype=self.dtype).ravel(),
            out.ravel(),
        )
        return out

    def add_rmatmul(self, R, out):
        """``out += X_b.T @ R``; ``out`` is C-contiguous.

        The kernel accumulates in place only when ``R`` and ``out`` have X's
        dtype; a wider ``out`` (float64 sums of float32 data) gets the
        block's product in X's dtype added to it, and a wider ``R`` is
        multiplied in its own dtype.
        """
        if _sparsetools is None or R.dtype != self.dtype:
            out += self._public().T @ R
            return
        if out.dtype != self.dtype:
            part = np.zeros(out.shape, dtype=self.dtype)
            self.add_rmatmul(R, part)
            out += part
            return
        _sparsetools.csc_matvecs(
            self.shape[1],
            self.shape[0],
            R.shape[1],
            self.indptr,
            self.X.indices,
            self.X.data,
            np.ascontiguousarray(R, dtype=self.dtype).ravel(),
            out.ravel(),
        )

    def squared(self):
        """This block with every stored value squared (a block-sized copy)."""
        a, b = self.indptr[0], self.indptr[-1]
        return sp.csr_matrix(
            (self.X.data[a:b] ** 2, self.X.indices[a:b], self.indptr - a),
            shape=self.shape,
        )

    def _public(self):
        a, b = self.indptr[0], self.indptr[-1]
        return sp.csr_matrix(
            (self.X.data[a:b], self.X.indices[a:b], self.indptr - a), shape=self.shape
        )


def matmul(Xb, B):
    """``Xb @ B`` for a dense block (a view of X) or a :class:`CSRBlock`."""
    if isinstance(Xb, CSRBlock):
        return Xb.matmul(B)
    return Xb @ B


def add_rmatmul(Xb, R, out):
    """``out += Xb.T @ R`` without forming a transposed copy of ``Xb``."""
    if isinstance(Xb, CSRBlock):
        Xb.add_rmatmul(R, out)
    else:
        out += Xb.T @ R


def plan_blocks(X, n_classes, block_rows=None):
    """Row slices for ``X``: by bytes for dense data, by entries for CSR."""
    if sp.issparse(X):
        return sparse_block_slices(X.indptr, block_rows)
    n_cols = X.shape[1] + _SCORE_COPIES * n_classes
    return block_slices(X.shape[0], n_cols, X.dtype.itemsize, block_rows)


def row_block(X, sl):
    """Rows ``sl`` of ``X`` without copying: a view, or a :class:`CSRBlock`."""
    if sp.issparse(X):
        return CSRBlock(X, sl)
    return X[sl]


_POOLS = {}
_POOLS_LOCK = threading.Lock()
_WORKER = threading.local()


class _SharedBlasLimit:
    """One process-wide "BLAS at one thread" held while any softreg call runs.

    BLAS thread counts are process-wide, so a limit entered and exited by
    each call races when calls overlap: the last to exit can restore the
    value another call had set (leaving the process at one thread), and a
    call can find BLAS back at several threads half way through. Instead the
    calls share one limit under a reference count: the first call to enter
    saves the BLAS thread counts and sets them to one, the last to leave
    restores exactly what was saved, whichever thread it runs in.

    Every call enters it, serial ones included: OpenBLAS's products give
    different last bits with one thread and with several (measured here,
    OpenBLAS 0.3.30, e.g. a 2500 x 50 by 50 x 5 product), so a call that
    ran with BLAS's own threads when alone would give other results when
    another call held the limit.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = None
        self._libs = None

    def _blas_libs(self):
        # Scanning the loaded libraries costs milliseconds: once per process.
        if self._libs is None:
            controller = ThreadpoolController().select(user_api="blas")
            self._libs = list(controller.lib_controllers)
        return self._libs

    def _set(self, counts):
        # threadpoolctl lets only one "controlling" thread change OpenBLAS's
        # shared pool and silently ignores the others; the last call to
        # leave may run in any thread, so it takes control for the change
        # and gives it back. The lock serialises softreg's own changes.
        # (Older threadpoolctl versions have no controlling thread.)
        release = getattr(
            getattr(threadpoolctl, "OpenBLASController", None),
            "clear_controlling_thread",
            None,
        )
        if release is not None:
            release(force=True)
        try:
            for lib, n in zip(self._blas_libs(), counts, strict=True):
                if n is not None:
                    lib.set_num_threads(n)
        finally:
            if release is not None:
                release(force=True)

    def __enter__(self):
        with self._lock:
            if self._depth == 0:
                libs = self._blas_libs()
                self._saved = [lib.get_num_threads() for lib in libs]
                self._set([1] * len(libs))
            self._depth += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            if self._depth == 0:  # entered before a fork, left in the child
                return
            self._depth -= 1
            if self._depth == 0:
                self._set(self._saved)
                self._saved = None

    def depth(self):
        """Number of softreg calls currently holding the limit."""
        return self._depth

    def _after_fork_in_child(self):
        # The child has one thread and no softreg call running in it: give
        # it the BLAS settings found before the first call held the limit.
        self._lock = threading.Lock()
        if self._depth and self._saved is not None:
            self._set(self._saved)
        self._depth = 0
        self._saved = None


_BLAS_LIMIT = _SharedBlasLimit()


def _forget_pools_after_fork():
    # A forked child inherits the pool objects but not their threads.
    _POOLS.clear()
    _BLAS_LIMIT._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


def _shared_pool(n_threads):
    """A process-wide pool of ``n_threads`` workers, created once.

    Starting threads and scanning the loaded libraries with threadpoolctl
    cost milliseconds, as much as a whole ``predict_proba`` on 10^5 rows;
    both are paid once per process instead of once per call.
    """
    with _POOLS_LOCK:
        pool = _POOLS.get(n_threads)
        if pool is None:
            pool = ThreadPoolExecutor(n_threads, thread_name_prefix="softreg")
            _POOLS[n_threads] = pool
        return pool


def single_threaded_blas():
    """Context manager holding BLAS at one thread; see :class:`_SharedBlasLimit`.

    Re-entrant and shared by concurrent calls: the process's BLAS settings
    are restored when the last call holding it leaves.
    """
    return _BLAS_LIMIT


# The name softreg._dask uses for the same shared limit.
_blas_limit = single_threaded_blas


def _in_worker(func):
    def run(task):
        _WORKER.active = True
        try:
            return func(task)
        finally:
            _WORKER.active = False

    return run


class BlockRunner:
    """Apply a function to a list of tasks, serially or on a thread pool.

    Results come back in task order whatever the thread count, so a reduction
    over them is deterministic. The worker threads belong to a process-wide
    pool shared by all runners with the same thread count.

    Parameters
    ----------
    n_threads : int, default=1
        Number of worker threads; 1 runs everything in the calling thread
        and leaves numpy's BLAS its own threads.

    Examples
    --------
    >>> from softreg._blocks import BlockRunner
    >>> runner = BlockRunner(2)
    >>> with runner.running():
    ...     runner.map(lambda i: i * i, range(5))
    [0, 1, 4, 9, 16]
    """

    def __init__(self, n_threads=1):
        self.n_threads = max(1, int(n_threads))
        self._stack = None
        self._pool = None

    @classmethod
    def from_n_jobs(cls, n_jobs):
        """A runner with :func:`resolve_n_threads` ``(n_jobs)`` threads."""
        return cls(resolve_n_threads(n_jobs))

    def map(self, func, tasks):
        """``[func(t) for t in tasks]``, on the pool when one can be used."""
        tasks = list(tasks)
        if (
            self._stack is None
            or self.n_threads <= 1
            or len(tasks) <= 1
            # Called from one of the pool's own workers (a normalizer that
            # predicts with another model): waiting on the pool could deadlock.
            or getattr(_WORKER, "active", False)
        ):
            return [func(t) for t in tasks]
        if self._pool is None:
            # Taken on first use, so that small problems, which never have more
            # than one task, do not start threads.
            self._pool = _shared_pool(self.n_threads)
        return list(self._pool.map(_in_worker(func), tasks))

    @contextmanager
    def running(self):
        """Allow :meth:`map` to use threads until the block exits."""
        if self._stack is not None:  # re-entered: the outer block owns the pool
            yield self
            return
        with ExitStack() as stack:
            # softreg owns the parallelism: numpy's BLAS calls release the
            # GIL, so the workers already use the cores, and BLAS threads on
            # top of them would oversubscribe. Small problems (one task) need
            # the limit too: numpy and scipy each load their own OpenBLAS,
            # and the two thread pools spinning against each other slowed a
            # digits fit (1347 x 64, 10 classes) 20-fold, from 12 ms to
            # 240 ms, between L-BFGS-B steps and products. Serial runners
            # hold it as well, so that results never depend on whether
            # another call holds it (see _SharedBlasLimit).
            stack.enter_context(single_threaded_blas())
            self._stack = stack
            try:
                yield self
            finally:
                self._stack = None
                self._pool = None


def one_hot_columns(y, n_classes, dtype):
    """One-hot targets of integer labels, column-major like the scores."""
    n = y.shape[0]
    Y = np.zeros((n_classes, n), dtype=dtype)
    # Flat indices into the C-ordered (classes, rows) array: about 2x faster
    # than a two-array fancy assignment for a handful of classes.
    Y.ravel()[y * n + np.arange(n)] = 1
    return Y.T


def block_targets(y, n_classes, dtype):
    """Target matrix of one row block, column-major like the scores.

    ``y`` is a block of encoded labels (1-D: one-hot targets) or of a soft
    target matrix (2-D, rows summing to 1: copied into ``dtype``).
    """
    if y.ndim == 1:
        return one_hot_columns(y, n_classes, dtype)
    return np.asfortranarray(y, dtype=dtype)


def _data_bytes(X):
    """Bytes of ``X``'s values (stored values if sparse)."""
    if sp.issparse(X):
        return X.data.nbytes
    return X.nbytes


def _pass_key(func):
    """What identifies a per-chunk function's pass, or None if nothing does.

    A bound method of an object with ``pass_key()`` (a kernel): the method
    and that key.
    """
    owner = getattr(func, "__self__", None)
    key = getattr(owner, "pass_key", None)
    if key is None:
        return None
    return func.__func__, key()


# Below this many entries, comparing the bytes is ~10x faster than
# np.array_equal (0.2 against 2.3 us for 15), which the solvers' caches call
# a few times per iteration; above it the copy tobytes makes costs more.
_BYTES_COMPARE_MAX = 4096


def same_point(a, b):
    """Whether arrays ``a`` and ``b`` hold the same values, dtype and shape.

    For caches keyed on parameters (the optimiser's iterates, which come
    back as copies of the evaluated array, and the kept pass of
    :meth:`InMemoryRows.map_reduce`): equal bits, so a byte comparison
    decides for small arrays. (Bitwise different but equal values, -0.0 and
    0.0, only cost a cache miss.)
    """
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.size <= _BYTES_COMPARE_MAX:
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a, b))


def _same_arg(kept, arg):
    """Whether ``arg`` equals ``kept``, an array copy of an earlier one (or None)."""
    if kept is None or arg is None:
        return kept is arg
    return same_point(kept, np.asarray(arg))


def add_parts(a, b):
    """Entry-wise sum of two results of a per-chunk function, in float64.

    A per-chunk function returns a tuple of numbers and arrays (a loss, a
    gradient block, ...); reductions over chunks combine them with this,
    always in the same order, so sums are deterministic.
    """
    return tuple(np.add(x, y, dtype=np.float64) for x, y in zip(a, b, strict=True))


class Chunk:
    """Consecutive row blocks of one data set: the unit of work of one task.

    A per-chunk function (see :class:`softreg._objective.ChunkKernel`) reads
    its blocks by iterating over it and accumulates into :meth:`zeros`.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels, or soft targets.
    sample_weight : ndarray of shape (n_samples,)
    slices : list of slice
        The row blocks of ``X`` that belong to this chunk.
    """

    def __init__(self, X, y, sample_weight, slices, n_classes=None):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.slices = slices
        self.blocks = [row_block(X, sl) for sl in slices]
        self._buffer = None
        self._n_classes = n_classes
        self._targets = None

    @classmethod
    def whole(cls, X, y, sample_weight, n_classes, block_rows=None):
        """All rows of ``X`` as one chunk, cut into cache-sized blocks."""
        return cls(X, y, sample_weight, plan_blocks(X, n_classes, block_rows))

    def __iter__(self):
        """``(X_b, y_b, s_b)`` for every block, in row order.

        With ``n_classes`` given, ``y_b`` is the block's target matrix in
        ``X``'s dtype (:func:`block_targets`), made on the first pass and
        kept: building the one-hot targets of a 4915-row, 10-class float32
        block took 9 us, 2-4% of a pass over a 16000 x 100 fold.
        """
        targets = self._targets
        if targets is None and self._n_classes is not None:
            targets = self._targets = [
                block_targets(self.y[sl], self._n_classes, self.X.dtype)
                for sl in self.slices
            ]
        for i, (sl, Xb) in enumerate(zip(self.slices, self.blocks, strict=True)):
            yb = self.y[sl] if targets is None else targets[i]
            yield Xb, yb, self.sample_weight[sl]

    def zeros(self, shape, dtype):
        """A zeroed accumulator, reused from the previous pass when it fits.

        In memory a chunk lives as long as the fit, so its gradient buffer
        is allocated once rather than once per pass.
        """
        if (
            self._buffer is None
            or self._buffer.shape != shape
            or self._buffer.dtype != dtype
        ):
            self._buffer = np.zeros(shape, dtype=dtype)
        else:
            self._buffer.fill(0)
        return self._buffer


class InMemoryRows:
    """Training data held in this process, evaluated on a thread pool.

    The rows are cut into cache-sized blocks grouped into chunks, one thread
    task each (:func:`chunk_ranges`); :meth:`map_reduce` applies a per-chunk
    function to every chunk and sums the results in chunk order. This is one
    of the two places the objective's passes run; the other is
    :class:`softreg._dask.DaskRows`, with the same methods.

    Parameters
    ----------
    X : {ndarray, csr_matrix} of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Encoded labels, or soft targets.
    sample_weight : ndarray of shape (n_samples,)
        Per-sample weights with the class weights folded in.
    n_classes : int
    runner : BlockRunner, default=None
        Serial when None.
    block_rows : int, default=None
        Rows per block; by default sized by :func:`plan_blocks`.
    keep_last_pass : bool, default=False
        Keep the last pass's result and return it when the same pass is
        asked for again (see :meth:`map_reduce`); the float32 copy
        (:meth:`coarse`) inherits it.
    """

    #: float32 rows can be evaluated at float64 parameters (float64 scores):
    #: numpy upcasts a block of ``X`` in the products.
    mixed_precision = True

    def __init__(
        self,
        X,
        y,
        sample_weight,
        n_classes,
        runner=None,
        block_rows=None,
        keep_last_pass=False,
    ):
        self.X = X
        self.runner = runner if runner is not None else BlockRunner(1)
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        sw = np.asarray(sample_weight)
        self.sw_sum = float(np.sum(sw, dtype=np.float64))
        # Equal weights (the usual case) are applied once to each chunk's
        # sums rather than to every row.
        self.uniform_weight = (
            float(sw.flat[0]) if sw.size and np.all(sw == sw.flat[0]) else None
        )
        self.slices = plan_blocks(X, n_classes, block_rows)
        buffer_bytes = self.n_features * n_classes * self.dtype.itemsize
        ranges = chunk_ranges(
            len(self.slices),
            self.runner.n_threads,
            max_chunks=_CHUNK_BUFFER_BYTES // max(1, buffer_bytes),
        )
        # The block targets are kept with the rows (see Chunk) where they
        # take little memory next to X, or little at all.
        target_bytes = self.n_samples * n_classes * self.dtype.itemsize
        keeps = target_bytes <= max(_data_bytes(X) // 8, _KEPT_TARGET_BYTES)
        self._kept_bytes = target_bytes if keeps else 0
        kept = n_classes if keeps else None
        self.chunks = [Chunk(X, y, sw, self.slices[a:b], kept) for a, b in ranges]
        self._passes = 0
        self._moments = None
        self._coarse = None
        self._args = (y, sample_weight, n_classes, self.runner, block_rows)
        self.keep_last_pass = keep_last_pass
        self._last_pass = None

    @property
    def n_passes(self):
        """Passes run so far, over ``X`` and over its float32 copy."""
        coarse = self._coarse.n_passes if self._coarse else 0
        return self._passes + coarse

    def coarse(self, max_bytes=None):
        """These rows with ``X`` rounded to float32, or None.

        For float64 ``X`` (dense, or the stored values of CSR): a float32 copy
        halves the bytes each product reads and runs the products and the
        normalizer's work at twice the SIMD width, so a pass costs about half
        as much (measured: a 16000 x 100, 10-class fit in 34 ms against
        66 ms, same iterations). The solvers use
        it for the passes far from the optimum, where its rounding (about
        ``eps32`` relative) is far below the gradient, and finish on ``X``
        itself (see :func:`softreg._solvers._run`). Made once, on first use,
        and kept with these rows (a regularisation path reuses it).

        Parameters
        ----------
        max_bytes : int, default=None
            No copy is made if it would take more bytes than this.

        Returns
        -------
        rows : InMemoryRows or None
            None for float32 or small ``X`` (below ``_COARSE_MIN_ENTRIES``
            entries, stored entries if sparse, where a pass costs its fixed
            overhead), or if the copy would exceed ``max_bytes``.
        """
        X = self.X
        if self._coarse is None:
            usable = (
                (isinstance(X, np.ndarray) or sp.issparse(X))
                and X.dtype == np.float64
                and X.size >= _COARSE_MIN_ENTRIES  # stored entries if sparse
                and (max_bytes is None or X.size * 4 <= max_bytes)
            )
            if not usable:
                return None
            if sp.issparse(X):  # the stored values only; the indices are shared
                copy = type(X)(
                    (X.data.astype(np.float32), X.indices, X.indptr), shape=X.shape
                )
            else:
                copy = self._float32_copy()
            self._coarse = InMemoryRows(
                copy, *self._args, keep_last_pass=self.keep_last_pass
            )
        return self._coarse

    def _float32_copy(self):
        # Chunk by chunk on the runner's threads: a fresh copy costs its page
        # faults (~10 us per 4 KiB page on the VMs measured here, 0.2 s for
        # 200000 x 100) more than its conversion, and they run in parallel.
        out = np.empty(self.X.shape, dtype=np.float32)

        def convert(chunk):
            a, b = chunk.slices[0].start, chunk.slices[-1].stop
            out[a:b] = self.X[a:b]

        self.runner.map(convert, self.chunks)
        return out

    @property
    def blocks(self):
        return [block for chunk in self.chunks for block in chunk.blocks]

    def running(self):
        """Context in which :meth:`map_reduce` may use the thread pool."""
        return self.runner.running()

    def map_reduce(self, func, *args):
        """``func(chunk, *args)`` summed over the chunks, in chunk order.

        With ``keep_last_pass`` (the rows of a regularisation path), the
        same pass as the last one (a method of a kernel with an equal
        ``pass_key()``, equal arguments) returns the last result instead of
        running: the path's next fit starts where the last one ended, so its
        first pass, on the float32 copy and on ``X``, has already been run.
        """
        key = _pass_key(func) if self.keep_last_pass else None
        last, self._last_pass = self._last_pass, None
        if (
            key is not None
            and last is not None
            and last[0] == key
            and len(last[1]) == len(args)
            and all(map(_same_arg, last[1], args))
        ):
            self._last_pass = last
            return last[2]
        self._passes += 1
        parts = self.runner.map(lambda chunk: func(chunk, *args), self.chunks)
        result = functools.reduce(add_parts, parts)
        if key is not None:
            # The result may hold a chunk's buffer, which only the next pass
            # overwrites, and that pass drops this record first.
            self._last_pass = (
                key,
                [None if a is None else np.array(a) for a in args],
                result,
            )
        return result

    def feature_moments(self, kernel):
        """Weighted column means and mean squares.

        One pass, on the first call only: they depend on the rows and their
        weights, not on ``C`` or the parameters, so a path of fits over the
        same rows (:func:`softreg._path.fit_path`) reuses them.
        """
        if self._moments is None:
            m, q = self.map_reduce(kernel.moments)
            self._moments = m / self.sw_sum, q / self.sw_sum
        return self._moments

    def memory_estimate(self, n_params, n_score_columns):
        """Bytes allocated per pass beyond ``X``: buffers and block temporaries."""
        item = self.dtype.itemsize
        rows = max((sl.stop - sl.start for sl in self.slices), default=0)
        # Per chunk its gradient accumulator; per running block the scores,
        # targets and about six normalizer temporaries.
        n_threads = min(self.runner.n_threads, len(self.chunks))
        per_block = rows * n_score_columns * item * 8
        if sp.issparse(self.X):
            per_block += rows and (self.X.nnz // max(1, len(self.slices))) * item
        return int(
            len(self.chunks) * n_params * item
            + n_threads * per_block
            + self._kept_bytes
        )
