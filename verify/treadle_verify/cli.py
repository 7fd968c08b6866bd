"""The ``treadle`` command line.

Subcommands live in their own modules (``_cli_*.py``); each exposes
``register(subparsers)`` which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import treadle

# Each entry is a module in this package with a register(subparsers) function.
_SUBCOMMAND_MODULES: tuple[str, ...] = ("_cli_check", "_cli_explore", "_cli_spec")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="treadle",
        description=(
            "Check treadle's protocols: explore the real code under every "
            "interleaving and check the specs it conforms to."
        ),
    )
    parser.add_argument("--version", action="version", version=f"treadle {treadle.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in _SUBCOMMAND_MODULES:
        module = importlib.import_module(f"treadle_verify.{name}")
        module.register(subparsers)
    return parser


# The exit status when the reader of stdout went away (`treadle check | head`):
# what a program killed by SIGPIPE reports to a shell.
BROKEN_PIPE_STATUS = 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    try:
        if func is None:
            parser.print_help()
            status = 0
        else:
            status = func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: stop quietly. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE_STATUS
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
