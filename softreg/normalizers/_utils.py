"""Small array helpers shared by the built-in normalizers.

The normalizers are written once against the array API standard: every
function takes its namespace ``xp`` from the scores, so the same code runs on
NumPy arrays, PyTorch tensors (CPU or GPU), CuPy arrays and any other
array-API library. For NumPy input ``xp`` is ``array_api_compat.numpy`` (as
vendored by scikit-learn), whose functions are NumPy's own or thin wrappers
of them; the few helpers below that NumPy can do in place or fused
(:func:`rowdot`, :func:`divide`, :func:`maximum`) take NumPy's faster route
there, so NumPy users pay nothing for the generality.
"""

import numpy as np
from scipy.special import expit
from sklearn.externals import array_api_compat
from sklearn.externals.array_api_compat import numpy as np_compat


def namespace(*arrays):
    """The array API namespace of ``arrays`` (None entries are ignored).

    ``array_api_compat.numpy`` when every array is a NumPy array, without
    looking further; otherwise the common namespace of the arrays
    (:func:`array_api_compat.array_namespace`, which raises TypeError for
    arrays of different libraries). Unlike scikit-learn's ``get_namespace``
    this does not depend on ``array_api_dispatch``: a normalizer called on a
    tensor computes with tensors.
    """
    arrays = [a for a in arrays if a is not None]
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np_compat
    return array_api_compat.array_namespace(*arrays)


def device(A):
    """The device of the array ``A`` (``"cpu"`` for NumPy)."""
    return array_api_compat.device(A)


def as_scores(Z):
    """``(Z, xp)``: ``Z`` as a 2-D float32 or float64 array and its namespace.

    Array-API arrays stay in their library and on their device; anything
    else goes through :func:`numpy.asarray`. Other dtypes become float64;
    float32 is kept so that a float32 fit stays float32 end to end.
    """
    if isinstance(Z, np.ndarray) or not array_api_compat.is_array_api_obj(Z):
        Z = np.asarray(Z)
        xp = np_compat
    else:
        xp = array_api_compat.array_namespace(Z)
    if Z.dtype != xp.float32 and Z.dtype != xp.float64:
        Z = xp.astype(Z, xp.float64)
    if Z.ndim != 2:
        raise ValueError(
            f"Scores must be a 2-D array of shape (n_samples, n_classes); got "
            f"an array of shape {tuple(Z.shape)}."
        )
    return Z, xp


def as_like(A, Z, xp):
    """``A`` (targets, directions) in the namespace, device and dtype of ``Z``."""
    if isinstance(Z, np.ndarray):
        return np.asarray(A, dtype=Z.dtype)
    if array_api_compat.is_array_api_obj(A) and namespace(A) is xp:
        return A if A.dtype == Z.dtype else xp.astype(A, Z.dtype)
    return xp.asarray(A, dtype=Z.dtype, device=device(Z))


def as_targets(Y, Z, xp=np_compat):
    """Targets in the scores' dtype, so float32 scores give float32 losses."""
    Y = as_like(Y, Z, xp)
    if tuple(Y.shape) != tuple(Z.shape):
        raise ValueError(
            f"Targets Y of shape {tuple(Y.shape)} do not match scores Z of shape "
            f"{tuple(Z.shape)}."
        )
    return Y


def rowdot(A, B, xp=np_compat):
    """Row-wise inner products ``sum_k A[i, k] * B[i, k]``, shape ``(n,)``."""
    if isinstance(A, np.ndarray):
        # Fused: no (n, K) temporary.
        return np.einsum("ij,ij->i", A, B)
    return xp.sum(A * B, axis=1)


def divide(A, B, out, xp=np_compat):
    """``A / B``, written into ``out`` (a dead buffer) when NumPy can."""
    if isinstance(out, np.ndarray):
        return np.divide(A, B, out=out)
    return A / B


def maximum(A, value, xp=np_compat, inplace=False):
    """Elementwise ``max(A, value)`` for a Python scalar ``value``.

    With ``inplace=True`` NumPy writes into ``A``; other libraries return a
    new array (array-API arrays need not support ``out=``).
    """
    if isinstance(A, np.ndarray):
        return np.maximum(A, value, out=A if inplace else None)
    return xp.clip(A, min=value)


def sqrt(A, xp=np_compat, inplace=False):
    """Elementwise square root; NumPy writes into ``A`` with ``inplace=True``."""
    if isinstance(A, np.ndarray):
        return np.sqrt(A, out=A if inplace else None)
    return xp.sqrt(A)


def sort_descending(A, xp=np_compat):
    """Each row of ``A`` sorted in decreasing order."""
    if isinstance(A, np.ndarray):
        # np.sort is ascending; the reversed view costs nothing.
        return np.sort(A, axis=1)[:, ::-1]
    return xp.sort(A, axis=1, descending=True)


def gather(A, k, xp=np_compat):
    """``A[i, k[i] - 1]`` for every row ``i``, shape ``(n, 1)``."""
    return xp.take_along_axis(A, xp.reshape(k - 1, (-1, 1)), axis=1)


def arange_like(n, Z, xp=np_compat):
    """``1, ..., n`` in the dtype and on the device of ``Z``."""
    return xp.arange(1, n + 1, dtype=Z.dtype, device=device(Z))


def softplus(L, xp=np_compat):
    """``log(1 + exp(L))``, computed stably."""
    if isinstance(L, np.ndarray):
        return np.logaddexp(0, L)
    return xp.logaddexp(xp.zeros_like(L), L)


def sigmoid(L, xp=np_compat):
    """``1 / (1 + exp(-L))`` without overflow warnings."""
    if isinstance(L, np.ndarray):
        return expit(L)
    # exp(-|L|) <= 1: no overflow; the two branches are the same function.
    E = xp.exp(-xp.abs(L))
    return xp.where(L >= 0, 1 / (1 + E), E / (1 + E))
