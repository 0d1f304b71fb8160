"""`stockade run`: the command (command.py), its options (args.py), what it tells its user
(report.py), its refusals (refusals.py), the supervisor it sets up (supervision.py), complain
mode (complain.py), TOMOYO's kernel grants (tomoyo.py) and the sandboxes it leaves running
(kept.py). The package exposes the command protocol cli/main.py asks for."""

from stockade.cli.run.command import COLLECTS_GARBAGE as COLLECTS_GARBAGE
from stockade.cli.run.command import COMMAND as COMMAND
from stockade.cli.run.command import EXIT_AT_ONCE as EXIT_AT_ONCE
from stockade.cli.run.command import HELP as HELP
from stockade.cli.run.command import OPTIONS as OPTIONS
from stockade.cli.run.command import PROFILE_FILES as PROFILE_FILES
from stockade.cli.run.command import SETUP_FAILED as SETUP_FAILED
from stockade.cli.run.command import USAGE_EXIT as USAGE_EXIT
from stockade.cli.run.command import add_arguments as add_arguments
from stockade.cli.run.command import run as run
