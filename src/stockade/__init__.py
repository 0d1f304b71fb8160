"""stockade: the Linux host security layer, in Python, made real."""

__version__ = "0.1.0"
