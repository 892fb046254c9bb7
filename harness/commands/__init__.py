"""Sub-commands of the `rlvr-zoo` CLI. Each module here defines

    NAME: str                      the sub-command name
    HELP: str                      one line for `rlvr-zoo --help`
    def add_arguments(parser)      fill an argparse sub-parser
    def run(args) -> int           do the work, return the exit status

and is listed in COMMANDS below, in the order `rlvr-zoo --help` shows them.
"""
COMMANDS = ["train", "eval", "compare", "leaderboard", "curves", "list"]
