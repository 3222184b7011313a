"""Arrays handed to joblib's worker processes once per call, not once per task."""

import os
import shutil
import tempfile
import threading
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


class SharedArray:
    """An array handed to joblib tasks: itself in threads, a file in processes.

    joblib memory-maps large arguments for its worker processes itself, but
    it names each file by a hash of the array's bytes, computed every time
    the array is pickled, that is once per task: 22 ms for 20000 x 100
    float64 here, up to 150 ms for SoftmaxRegressionCV's 5 fold tasks. This
    wrapper pickles as a read-only memory map of one ``.npy`` file instead,
    written on the first pickling (16 ms for the same array) and reused by
    every later task. Tasks run in threads (``n_jobs=None``, a threading
    backend, joblib's nested calls in a worker) never pickle it, and no file
    is written. Tasks read the array with :func:`task_array`.
    """

    def __init__(self, array):
        self.array = array
        self._folder = None
        self._path = None
        # Tasks may be pickled from more than one of joblib's threads.
        self._lock = threading.Lock()

    def __reduce__(self):
        with self._lock:
            if self._path is None:
                self._path = self._write()
        return (_load, (self._path,))

    def _write(self):
        X = self.array
        self._folder = tempfile.mkdtemp(prefix="softreg-", dir=_folder(X.nbytes))
        path = os.path.join(self._folder, "X.npy")
        # The same memory layout as X, so that the workers' computations
        # (X[train] and its products) are those of a thread given X.
        fortran = X.flags.f_contiguous and not X.flags.c_contiguous
        out = np.lib.format.open_memmap(
            path, mode="w+", dtype=X.dtype, shape=X.shape, fortran_order=fortran
        )
        out[...] = X
        out.flush()
        return path

    def close(self):
        """Remove the file, if one was written.

        The workers' mappings stay valid on POSIX systems.
        """
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = self._path = None


def _load(path):
    return np.load(path, mmap_mode="r")


def task_array(X):
    """The array a task was given: unwraps a :class:`SharedArray`."""
    return X.array if isinstance(X, SharedArray) else X


@contextmanager
def shared_with_workers(X):
    """``X`` as a :class:`SharedArray` while the block runs, if it is large.

    Dense arrays of at least 1 MiB only (joblib's own threshold); anything
    else is yielded as is. A file written for worker processes is removed
    when the block exits.
    """
    if not isinstance(X, np.ndarray) or X.nbytes < _MIN_BYTES:
        yield X
        return
    shared = SharedArray(X)
    try:
        yield shared
    finally:
        shared.close()
