"""Maps from class scores to probabilities, pluggable into SoftmaxRegression.

A normalizer is any object with ``__call__(Z)`` (probabilities) and
``loss_gradient(Y, Z)`` (per-row loss and its gradient w.r.t. the scores);
derive from :class:`Normalizer` to get the optional methods' defaults, and
run :func:`check_normalizer` on your own to test it.

Built-in normalizers, by the name the estimator accepts:

================  ==============  ==========================================
name              class           notes
================  ==============  ==========================================
``"softmax"``     `Softmax`       convex, shift invariant, the default
``"taylor"``      `Taylor`        non-convex, not monotone
``"spherical"``   `Spherical`     non-convex, sign-blind, hyperparameter eps
``"sparsemax"``   `Sparsemax`     convex, shift invariant, exact zeros
``"entmax15"``    `Entmax15`      convex, shift invariant, exact zeros
``"standard"``    `Standard`      divide by the sum; scale invariant baseline
================  ==============  ==========================================
"""

from ._base import Normalizer
from ._check import NormalizerReport, check_normalizer
from ._softmax import Softmax
from ._sparse import Entmax15, Sparsemax
from ._spherical import Spherical
from ._standard import Standard
from ._taylor import Taylor

__all__ = [
    "Entmax15",
    "Normalizer",
    "NormalizerReport",
    "Softmax",
    "Sparsemax",
    "Spherical",
    "Standard",
    "Taylor",
    "check_normalizer",
]
