"""AppArmor regular expressions (AARE): parsed exactly as apparmor_parser compiles them.

apparmor_parser turns a file rule's pattern into a DFA in four steps, and so does this package
(upstream's parser_misc.c processunquoted, parser_regex.c filter_slashes and
convert_aaregex_to_pcre, libapparmor_re/parse.y):

1. escapes are decoded: `\\xHH`, `\\NNN` (octal), `\\dNNN`, `\\n`, ... become the byte they
   name; a decoded glob character (`*?[]{}^,\\`) stays escaped, a decoded NUL stays an escape;
2. runs of `/` are folded where they are adjacent in that text -- not across `{}` boundaries
   (`/{,c,*}/` does not match `/`) -- except a leading `//` before a non-`/`, which is kept;
3. globs become the parser's regex dialect: `*` is `[^/\\x00]*` and `**` is `[^\\x00]*`,
   with one more `[^/\\x00]` in front when the star run stands for a whole component (after
   a `/`, before a `/` or the end); `?` is `[^/\\x00]`; `{a,b}` is `(a|b)` and needs at least
   two branches; `[...]` is copied, so `[!a]` is the class of `!` and `a` (`^` negates) and a
   `*` or `?` inside it injects its own class there (`/[*]` does not match `/*`);
4. that regex is parsed by the grammar of libapparmor_re (`[c-a]` is `[a-c]`, `[a-]` and
   `[]` are errors, `[][a]` is the class of `]`, `[` and `a`).

The tree becomes nodes (tree.py) and one RE2 regex over bytes (Latin-1 mode, as the kernel
matches bytes): the alternation of its expansions when there are at most MAX_EXPANSIONS,
else the tree itself (linear in the pattern's length). Directories are queried with
a trailing `/`, so a pattern ending in `/` matches directories only.

The steps live in tokens.py (1-3), tree.py (4, and queries over the tree) and pattern.py (the
`Pattern`, its regex); shapes.py parses patterns of one shape from one full parse.
"""

from stockade.policy.aare.pattern import (
    MAX_EXPANSIONS,
    Pattern,
    compile_seq,
    parse,
    query_bytes,
    regex_of,
    regex_of_tree,
)
from stockade.policy.aare.tokens import MAX_ALT_DEPTH, AareError, escape_value, fold_slashes
from stockade.policy.aare.tree import Node, Seq, expand_alternations, fold_flat

__all__ = ["MAX_ALT_DEPTH", "MAX_EXPANSIONS", "AareError", "Node", "Pattern", "Seq",
           "compile_seq", "escape_value", "expand_alternations", "fold_flat", "fold_slashes",
           "parse", "query_bytes", "regex_of", "regex_of_tree"]
