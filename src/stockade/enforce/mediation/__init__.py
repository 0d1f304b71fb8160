"""Who mediates every system call under `stockade run` (`table.MEDIATION`), the kernel's native
system call list it is checked against (`kernel`), and its text for docs and `compile`
(`render`)."""
