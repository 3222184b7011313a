"""softreg: scikit-learn compatible softmax regression with pluggable normalizers."""

from ._cv import SoftmaxRegressionCV
from ._estimator import SoftmaxRegression

__version__ = "0.1.0.dev0"
__all__ = ["SoftmaxRegression", "SoftmaxRegressionCV", "__version__"]
