"""Row blocks and the thread pool that evaluates them in a fixed order."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

# Target bytes of one block of X plus its score matrices: small enough that
# X_b, Z_b and the gradient rows stay in a per-core cache level while the
# block's product X_b^T R_b is formed.
_BLOCK_BYTES = 1 << 20
_MIN_BLOCK_ROWS = 256


def block_slices(n_rows, n_cols, itemsize, block_rows=None):
    """Contiguous row slices that cover ``range(n_rows)`` in order."""
    if block_rows is None:
        block_rows = max(_MIN_BLOCK_ROWS, _BLOCK_BYTES // max(1, n_cols * itemsize))
    block_rows = max(1, int(block_rows))
    return [slice(i, min(i + block_rows, n_rows)) for i in range(0, n_rows, block_rows)]


class BlockRunner:
    """Apply a function to row blocks, serially or on a thread pool.

    Results come back in block order whatever the thread count, so a reduction
    over them is deterministic.

    Parameters
    ----------
    n_threads : int
        Number of worker threads; 1 runs in the calling thread.
    """

    def __init__(self, n_threads=1):
        self.n_threads = n_threads
        self._pool = None

    def map(self, func, slices):
        if self._pool is None or len(slices) == 1:
            return [func(sl) for sl in slices]
        return list(self._pool.map(func, slices))

    @contextmanager
    def running(self):
        """Open the pool, and keep BLAS single-threaded while it is open.

        numpy's BLAS calls release the GIL, so the worker threads already
        use the cores; letting BLAS spawn its own threads as well would
        oversubscribe them.
        """
        if self.n_threads <= 1:
            yield self
            return
        with (
            threadpool_limits(limits=1, user_api="blas"),
            ThreadPoolExecutor(self.n_threads) as pool,
        ):
            self._pool = pool
            try:
                yield self
            finally:
                self._pool = None
