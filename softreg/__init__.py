"""softreg: scikit-learn compatible softmax regression with pluggable normalizers."""

from ._cv import SoftmaxRegressionCV
from ._estimator import SoftmaxRegression
from ._targets import neg_soft_log_loss_scorer, soft_log_loss

__version__ = "0.1.0.dev0"
__all__ = [
    "SoftmaxRegression",
    "SoftmaxRegressionCV",
    "__version__",
    "neg_soft_log_loss_scorer",
    "soft_log_loss",
]
