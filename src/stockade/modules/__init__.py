"""Security modules, one per file, named as the kernel names them."""
