"""Real confined children: needs Landlock, and root (the tests switch to nobody)."""

from confine_helpers import skip_unless_confinable

skip_unless_confinable()
