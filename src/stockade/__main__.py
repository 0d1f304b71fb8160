from stockade.cli.main import entry

entry()
