"""Maps from class scores to probabilities, pluggable into SoftmaxRegression.

A normalizer is any object with ``__call__(Z)`` (probabilities) and
``loss_gradient(Y, Z)`` (per-row loss and its gradient w.r.t. the scores);
derive from :class:`Normalizer` to get the optional methods' defaults.
"""

from ._base import Normalizer
from ._softmax import Softmax

__all__ = ["Normalizer", "Softmax"]
