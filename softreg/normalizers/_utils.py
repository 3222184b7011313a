"""Small array helpers shared by the built-in normalizers."""

import numpy as np


def as_scores(Z):
    """``Z`` as a 2-D float32 or float64 array (other dtypes become float64).

    float32 is kept so that a float32 fit stays float32 end to end.
    """
    Z = np.asarray(Z)
    if Z.dtype != np.float32 and Z.dtype != np.float64:
        Z = Z.astype(np.float64)
    if Z.ndim != 2:
        raise ValueError(
            f"Scores must be a 2-D array of shape (n_samples, n_classes); got "
            f"an array of shape {Z.shape}."
        )
    return Z


def as_targets(Y, Z):
    """Targets in the scores' dtype, so float32 scores give float32 losses."""
    Y = np.asarray(Y, dtype=Z.dtype)
    if Y.shape != Z.shape:
        raise ValueError(
            f"Targets Y of shape {Y.shape} do not match scores Z of shape {Z.shape}."
        )
    return Y


def rowdot(A, B):
    """Row-wise inner products ``sum_k A[i, k] * B[i, k]``, shape ``(n,)``."""
    return np.einsum("ij,ij->i", A, B)
