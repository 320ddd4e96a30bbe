"""Errors the user sees as one clear line (what, where, how to fix) and an exit code."""


class BlueprintError(Exception):
    """A problem with the user's input: config, workbook, environment. Exit code 2."""

    exit_code = 2
