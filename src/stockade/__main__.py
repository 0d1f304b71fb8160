import os
import sys

# `python -m stockade` puts the current directory first on sys.path. The launcher stays
# unconfined while a program that may write there runs, and imports some modules only when a
# run needs them: nothing is imported from there (enforce/own_code.py).
if sys.path and sys.path[0] == os.getcwd():
    del sys.path[0]

from stockade.cli.main import entry

entry()
