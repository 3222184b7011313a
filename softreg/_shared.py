"""Arrays handed to joblib's worker processes once per call, not once per task."""

import os
import shutil
import tempfile
from contextlib import contextmanager

import numpy as np

# joblib's own threshold (Parallel's max_nbytes): smaller arrays are pickled.
_MIN_BYTES = 1 << 20


def _folder(nbytes):
    """Where the shared file goes: where joblib would put its own."""
    folder = os.environ.get("JOBLIB_TEMP_FOLDER")
    if folder:
        os.makedirs(folder, exist_ok=True)  # as joblib does
        return folder
    # Shared memory, as joblib prefers, if it has room for the file twice.
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        try:
            if shutil.disk_usage("/dev/shm").free >= 2 * nbytes:
                return "/dev/shm"
        except OSError:
            pass
    return None  # the system's temporary directory


@contextmanager
def shared_with_workers(X):
    """``X``, as a read-only memory map while the block runs if it is large.

    joblib memory-maps large arguments for its worker processes itself, but
    it names each file by a hash of the array's bytes, computed every time
    the array is pickled, that is once per task: 22 ms for 20000 x 100
    float64 here, up to 150 ms for SoftmaxRegressionCV's 5 fold tasks. A
    ``numpy.memmap`` is passed by reference to its file instead, so writing
    the file once (16 ms) replaces the hashing. Dense arrays of at least
    1 MiB only; anything else is yielded as is. The file is removed when the
    block exits (the workers' mappings stay valid on POSIX systems).
    """
    if not isinstance(X, np.ndarray) or X.nbytes < _MIN_BYTES:
        yield X
        return
    folder = tempfile.mkdtemp(prefix="softreg-", dir=_folder(X.nbytes))
    try:
        path = os.path.join(folder, "X.npy")
        # The same memory layout as X, so that the workers' computations
        # (X[train] and its products) are those of a thread given X.
        fortran = X.flags.f_contiguous and not X.flags.c_contiguous
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=X.dtype, shape=X.shape, fortran_order=fortran
        )
        out[...] = X
        out.flush()
        del out
        yield np.load(path, mmap_mode="r")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
