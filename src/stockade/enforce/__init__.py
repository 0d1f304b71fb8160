"""Kernel bindings (Landlock, seccomp, capabilities, prctl), the plan compiler, launcher, supervisor."""
