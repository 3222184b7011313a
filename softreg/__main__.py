"""``python -m softreg``: the digits demo; ``python -m softreg bench``: benchmark."""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from ._bench import main as bench_main

        return bench_main(argv[1:])
    from ._demo import main as demo_main

    return demo_main(argv)


if __name__ == "__main__":
    sys.exit(main())
