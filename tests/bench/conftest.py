"""Nothing here is a test: the benchmark runs with ``nox -s bench`` (tests/test_bench_smoke.py
runs it once, small and untimed)."""

collect_ignore_glob = ["*"]
