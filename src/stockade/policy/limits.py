"""Limits on profile input, so that no file, however made, can hang or crash the tools.

Each limit is far above what real policy uses (the deepest profile in /etc/apparmor.d and
stockade's data nests 4 levels and includes 6 deep) and low enough that the recursive parser,
include resolver, compiler and pattern translator stay well inside Python's stack.
"""

MAX_FILE_BYTES = 16 << 20  # a profile or include file larger than this is refused
MAX_NESTING = 48  # profiles, hats, child profiles, qualifier blocks and conditionals, in all
MAX_CONDITION_DEPTH = 48  # operators and parentheses of one `if` condition
MAX_INCLUDE_DEPTH = 24  # files including files
MAX_ALTERNATION_DEPTH = 32  # nested `{...}` in one pattern
MAX_VARIABLE_DEPTH = 24  # variables defined through variables
MAX_EXPANSION_CHARS = 1 << 20  # what one variable may expand to
MAX_PATTERN_CHARS = 64 << 10  # one path pattern after expansion (paths end at PATH_MAX, 4096)
