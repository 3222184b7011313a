"""softreg: scikit-learn compatible softmax regression with pluggable normalizers."""

from ._estimator import SoftmaxRegression

__version__ = "0.1.0.dev0"
__all__ = ["SoftmaxRegression", "__version__"]
