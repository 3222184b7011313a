"""Check that a CPU profile took effect, and print what runs.

Usage: python .ci/cpu_profile.py "<disabled numpy features>" <OpenBLAS coretype>
(run with NPY_DISABLE_CPU_FEATURES and OPENBLAS_CORETYPE set to the same).
"""

import sys

import threadpoolctl
from numpy._core._multiarray_umath import __cpu_features__

disabled, coretype = sys.argv[1].split(), sys.argv[2]
still_on = [f for f in disabled if __cpu_features__.get(f)]
if still_on:
    sys.exit(f"numpy still uses {still_on}: NPY_DISABLE_CPU_FEATURES had no effect")
blas = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
kernels = {info.get("architecture") for info in blas}
if {k.lower() for k in kernels if k} != {coretype.lower()}:
    sys.exit(f"OpenBLAS runs {kernels}, not {coretype}: OPENBLAS_CORETYPE was ignored")
# numpy 2's dispatch levels (numpy.show_runtime() lists the same).
levels = ["X86_V2", "X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"]
enabled = [f for f in levels if __cpu_features__.get(f)]
print(f"numpy SIMD levels: {' '.join(enabled)}; OpenBLAS kernel: {coretype}")
