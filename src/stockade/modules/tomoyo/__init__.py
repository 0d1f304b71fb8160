"""TOMOYO: a domain-by-execution-history MAC module, its policy language and tools."""
