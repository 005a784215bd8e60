"""What the CLI printed, read as a user reads it."""

from __future__ import annotations

import re

#: The plain progress line printed every few seconds when stdout is not a terminal.
PROGRESS = re.compile(r"(verify|audit): \d+/\d+ examples")


def first_result_line(out: str) -> str:
    """The first line after any progress lines: the headline."""
    return next(line for line in out.splitlines() if line.strip() and not PROGRESS.match(line))
