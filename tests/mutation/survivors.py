"""Why each surviving mutant survives: diff lines → (kind, reason). Filled from a measured run."""

from __future__ import annotations

REASONS: dict[str, tuple[str, str]] = {}
