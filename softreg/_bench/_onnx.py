"""``python -m softreg bench --onnx``: onnxruntime against predict_proba.

Latency of one row and of 1000 rows (needs the ``onnx`` extra)::

    python -m softreg bench --onnx

Prints the median over repeated calls, in microseconds, for a model with 50
features and 10 classes fitted on synthetic data, for each normalizer.
"""

import argparse
import timeit

import numpy as np


def median_us(func, number, repeat):
    times = timeit.repeat(func, number=number, repeat=repeat)
    return 1e6 * float(np.median(times)) / number


def main(argv=None):
    """Run the ONNX latency benchmark; see ``--onnx --help``."""
    # Imported here: the onnx extra is needed only for this command.
    import onnxruntime as ort

    import softreg.onnx
    from softreg import SoftmaxRegression

    parser = argparse.ArgumentParser(
        prog="python -m softreg bench --onnx", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--onnx", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--normalizers", default="softmax,sparsemax,entmax15,taylor,standard"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, args.features)).astype(np.float32)
    y = (X[:, : args.classes] + rng.normal(size=(5000, args.classes))).argmax(axis=1)
    print(
        f"{args.features} features, {args.classes} classes, float32; median of "
        f"{args.repeat} repeats, microseconds per call"
    )
    print(f"{'normalizer':<11} {'rows':>5} {'predict_proba':>14} {'onnxruntime':>12}")
    for name in args.normalizers.split(","):
        clf = SoftmaxRegression(normalizer=name, max_iter=200).fit(X, y)
        onx = softreg.onnx.to_onnx(clf, X[:1], options={"zipmap": False})
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            onx.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        for rows in (1, 1000):
            batch = X[:rows]
            session.run(None, {"X": batch})
            number = 2000 if rows == 1 else 100
            sk = median_us(
                lambda b=batch, c=clf: c.predict_proba(b), number, args.repeat
            )
            rt = median_us(
                lambda b=batch, s=session: s.run(["probabilities"], {"X": b}),
                number,
                args.repeat,
            )
            print(f"{name:<11} {rows:>5} {sk:>14.1f} {rt:>12.1f}")


if __name__ == "__main__":
    main()
