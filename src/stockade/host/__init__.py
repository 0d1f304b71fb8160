"""Posture probes of the running host, for `stockade status`."""
