"""Reelhouse: a self-hosted video platform."""

__version__ = "0.1.0"
