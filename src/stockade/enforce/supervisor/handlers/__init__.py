"""The supervisor's handlers, one module per family of system calls: open_exec (open, exec),
fs (name changes), owner (chmod, chown), attr (utime, xattrs, truncate), other (credentials,
sockets, signals), send (the send family), mmap (mmap, mprotect with PROT_EXEC).

Each handler answers its notification exactly once (or not at all when the target vanished):
deny with an errno, emulate and inject/return the result, or continue. docs/supervisor.md says
which, per system call, and why. The table by system call name is `supervisor/table.py`, which
imports only the modules a launch routes to (this file imports none of them).
"""
