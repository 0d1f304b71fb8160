"""One module per command: argument parsing and printing, nothing else."""
