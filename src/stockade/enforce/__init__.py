"""Kernel bindings (Landlock, seccomp, capabilities, prctl), plans, the launcher.

Modules: `landlock`, `seccomp`, `caps`, `prctl` (thin typed bindings); `plan_types`
(EnforcementPlan, CoverageReport); `defaults` (baseline and ad-hoc plans); `prepare` (plan ->
kernel objects for this kernel); `launcher` (fork, confine, exec, forward signals); `report`
(JSON records of what was applied). Import the submodule you need: this package imports
nothing, so `stockade` commands that do not confine stay fast to start.
"""
