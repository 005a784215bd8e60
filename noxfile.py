"""Sessions: `nox -s verify` (the main job), tests, tests_all, adapters, lint, bench, soak, fuzz,
mutation."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

#: torch and jax for the adapter tests (tests/test_adapters.py, the torch example, the README's
#: torch and jax block). torch is pinned to the version CI's machine provides as its CPU build
#: (2.13.0+cpu, on that machine's disk); on a Linux laptop a pin alone from PyPI resolves to the
#: CUDA build (several GB), which is why only CI=true and `nox -s adapters` install it.
FRAMEWORKS = ("torch==2.13.0", "jax", "jaxlib")
#: The tests that need torch or jax (they skip without them, and fail under CI=true).
FRAMEWORK_TESTS = (
    "tests/test_adapters.py",
    "tests/test_variants.py",
    "tests/test_examples.py",
    "tests/test_readme.py",
)


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


@nox.session
def tests(session: nox.Session) -> None:
    """The README's test command: the suite without the `slow` tests (tests/slowlist.py), on
    every core. torch and jax only under CI=true; elsewhere their tests skip (nox -s adapters)."""
    session.install("-e", ".[test]")
    if _in_ci():
        session.install(*FRAMEWORKS)
    session.run("pytest", "-m", "not slow", "-n", "auto", *session.posargs)


@nox.session
def tests_all(session: nox.Session) -> None:
    """The whole suite, slow tests included (CI runs this; torch and jax under CI=true)."""
    session.install("-e", ".[test]")
    if _in_ci():
        session.install(*FRAMEWORKS)
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session
def adapters(session: nox.Session) -> None:
    """Install torch and jax and run the tests that audit them (torch.autograd, jax.grad, the
    torch example); a missing one fails here, as under CI=true."""
    session.install("-e", ".[test]", *FRAMEWORKS)
    session.run(
        "pytest",
        "-n",
        "auto",
        *(session.posargs or FRAMEWORK_TESTS),
        env={"GRADCHECK_FRAMEWORKS": "required"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy --strict on the packages."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def verify(session: nox.Session) -> None:
    """The main job: a verification campaign of the reference backprop (or --candidate ...)."""
    session.install("-e", ".")
    session.run("gradcheck-harness", "verify", *(session.posargs or ["--profile", "default"]))


@nox.session
def bench(session: nox.Session) -> None:
    """Issue 6's benchmark: our sources, fast mode and the whole verdict on archs A-E, side by side
    with torch gradcheck, jax check_grads, numdifftools and naive SymPy (time-boxed), plus the FLOP
    floor and growth with P; writes reports/bench/<run-id>/bench.md and bench.json (tests/bench).
    Options after `--`: --repeat N, --time-box S, --archs A,B, --skip-competitors, --quick."""
    # [fast]: the compiled finite-difference kernel (numba). torch pinned to its CPU build
    # (2.13.0+cpu, on this machine's disk); unpinned it means CUDA. threadpoolctl: BLAS threads.
    session.install(
        "-e", ".[fast]", "torch==2.13.0", "jax", "jaxlib", "numdifftools", "threadpoolctl"
    )
    session.run("python", "-m", "tests.bench", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """False-alarm soak of the reference backprop: GRADCHECK_SOAK_EXAMPLES (default 10000) random
    problems over pytest-xdist workers sharing one Hypothesis database (tests/soak)."""
    session.install("-e", ".[test]")
    env = {
        "GRADCHECK_SOAK": "1",
        "GRADCHECK_SOAK_EXAMPLES": os.environ.get("GRADCHECK_SOAK_EXAMPLES", "10000"),
    }
    session.run("pytest", "tests/soak", "-n", "auto", *session.posargs, env=env)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the CLI and the public API; only typed errors may escape (GRADCHECK_FUZZ_SECONDS)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/fuzz",
        "-s",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={
            "GRADCHECK_FUZZ": "1",
            "GRADCHECK_FUZZ_SECONDS": os.environ.get("GRADCHECK_FUZZ_SECONDS", "120"),
        },
    )


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation testing of reference/ judged by `verify --profile quick` (mutmut's generator)."""
    session.install("-e", ".", "mutmut>=3.8,<4")
    session.run("python", "tests/mutation/run_mutation.py", *session.posargs)
