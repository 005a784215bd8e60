"""Child process: the first finite-difference call of a fresh interpreter, timed.

    python -m tests.bench.fd_cold ARCH numpy|compiled

Prints one JSON line: ``import_s`` (importing the harness and finite_diff) and ``first_call_s``
(the first ``estimate`` on the arch's reference problem: numba's JIT compile or on-disk cache load
included for the compiled kernel), or null if that kernel is not available.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    arch, kernel = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    from harness.sources import finite_diff  # noqa: F401  (import time is part of the record)
    from tests.bench.ours import fd_kernels
    from tests.bench.problems import problem_of

    import_s = time.perf_counter() - start
    problem = problem_of(arch)
    fn = fd_kernels()[kernel]
    first_call_s = None
    if fn is not None:
        start = time.perf_counter()
        fn(problem)
        first_call_s = time.perf_counter() - start
    print(
        json.dumps(
            {"arch": arch, "kernel": kernel, "import_s": import_s, "first_call_s": first_call_s}
        )
    )


if __name__ == "__main__":
    main()
