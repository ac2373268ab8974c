"""edge-gateway: the building gateway service."""

__version__ = "0.1.0"
