"""``python -m softreg._bench``, the same as ``python -m softreg bench``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
