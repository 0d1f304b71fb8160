"""SELinux's Common Intermediate Language: `parser` (s-expressions with positions), `expand`
(blocks, macros, `optional`), `rules` (expressions, contexts, rule statements) and `build` (the
passes that turn statements into a compiled `Policy`)."""
