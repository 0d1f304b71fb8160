"""Observations to profile proposals (genprof) and denials to profile updates (logprof)."""
