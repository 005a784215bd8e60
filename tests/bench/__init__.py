"""The benchmark of issue 6: ``nox -s bench`` or ``python -m tests.bench`` (tests/bench/run.py).

Not collected by pytest (conftest.py ignores this folder): speed is measured here, never asserted.

- run.py: options, the order of the run, the two files.
- ours.py: our sources, fast mode and the whole verdict; fd_cold.py: the first FD call in a fresh
  process.
- competitors.py: torch gradcheck, jax check_grads, numdifftools, naive SymPy, each in a child
  process that boxed.py kills at the time box.
- problems.py: archs A-E, the reference problem, the FLOP floor, the error measure;
  machine.py: CPU, BLAS, versions, GEMM rate; output.py: tables, bench.md, bench.json.
- disagreements.py: how far apart the sources are over 144 small problems.
"""
