"""The package version, in a leaf module so that records (sessions, audit provenance) can cite it."""

__version__ = "0.1.0"
