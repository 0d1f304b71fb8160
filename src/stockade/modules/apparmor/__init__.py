"""`apparmor`: AppArmor as a stockade module (profiles, attachment, exec transitions, hooks).

Public API: `AppArmor` (the module: `load_profiles`, `replace_profile`, `remove_profile`,
`set_profile_mode`, `find_attachment`, `exec_transition`, `explain_exec`), `ExecTransition`,
`ExecDenied`.
"""

from stockade.modules.apparmor.module import AppArmor, ExecDenied, ExecTransition

__all__ = ["AppArmor", "ExecDenied", "ExecTransition"]
