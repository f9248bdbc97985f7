"""The ``reelhouse`` command line."""
