"""cipub: take conda packages from recipe to a published, promoted release."""

__version__ = "0.1.0"
