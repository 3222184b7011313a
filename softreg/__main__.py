"""``python -m softreg [demo | bench | agreement | calibration]``; demo by default."""

import sys

_COMMANDS = {
    "demo": "softreg._demo",
    "bench": "softreg._bench",
    "agreement": "softreg._agreement",
    "calibration": "softreg._bench._calibration",
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name = argv[0] if argv and argv[0] in _COMMANDS else "demo"
    rest = argv[1:] if argv and argv[0] == name else argv
    if argv and argv[0] in ("-h", "--help"):
        print(
            "usage: python -m softreg [demo | bench | agreement | calibration] "
            "[options]"
        )
        print("  demo       SoftmaxRegression beside LogisticRegression on digits")
        print("  bench      fit/predict benchmark against scikit-learn's solvers")
        print("  agreement  largest differences from LogisticRegression")
        print("  calibration  calibrated models against CalibratedClassifierCV")
        print("Each command takes --help.")
        return 0
    module = __import__(_COMMANDS[name], fromlist=["main"])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
