"""`stockade explain`: the command (command.py), one question's evaluation through every layer
(evaluate.py) and many questions at once (batch.py). The package exposes the command protocol
cli/main.py asks for."""

from stockade.cli.explain.command import COMMAND as COMMAND
from stockade.cli.explain.command import HELP as HELP
from stockade.cli.explain.command import PROFILE_FILES as PROFILE_FILES
from stockade.cli.explain.command import add_arguments as add_arguments
from stockade.cli.explain.command import run as run
