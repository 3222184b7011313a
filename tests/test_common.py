"""scikit-learn's common estimator checks on SoftmaxRegression instances."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from softreg import SoftmaxRegression

# Reasoned table of checks expected to fail, per instance: empty on purpose.
# A check that starts failing must be fixed, not listed here without a reason.
EXPECTED_FAILED_CHECKS = {}

NORMALIZER_NAMES = [
    "softmax",
    "taylor",
    "spherical",
    "sparsemax",
    "entmax15",
    "standard",
]

INSTANCES = [
    SoftmaxRegression(),
    SoftmaxRegression(C=0.1, class_weight="balanced"),
    SoftmaxRegression(n_jobs=2),
    SoftmaxRegression(temperature=2.5),
    SoftmaxRegression(temperature="auto", random_state=0),
    *(
        SoftmaxRegression(normalizer=name, random_state=0)
        for name in NORMALIZER_NAMES[1:]
    ),
    SoftmaxRegression(normalizer="sparsemax", temperature="auto", random_state=0),
]


@parametrize_with_checks(
    INSTANCES,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(repr(est), {}),
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
