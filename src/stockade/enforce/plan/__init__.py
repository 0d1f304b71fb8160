"""The enforcement plan: a profile compiled to what the kernel can enforce without root.

`profile` compiles one profile (parse, compile, plan) into an `EnforcementPlan` (`types`);
`files`, `glob`, `replace`, `net`, `syscalls` and `syscall_rules` compile each kind of rule;
`common` holds the coverage vocabulary; `explain` answers what the plan decides for one
request (the decision function `explain --profile`, complain mode and logprof share);
`records` checks proposals against a plan; `cache` keeps compiled plans between runs.
Kept empty so that importing one part (e.g. `types` on a cache hit) loads nothing else.
"""
