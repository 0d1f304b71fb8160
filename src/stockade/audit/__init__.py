"""Audit records, their formats, sinks and readers of the kernel's audit trail."""
