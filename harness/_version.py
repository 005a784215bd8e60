"""The package version, in one place (read by the report writer and the package)."""

__version__ = "0.1.0"
