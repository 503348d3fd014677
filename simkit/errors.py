"""User-facing errors: bad scenario files, CSVs and CLI arguments.

The CLI prints these as one line (no traceback) and exits with status 2.
"""


class SimkitError(Exception):
    """Base class of errors caused by the user's input, not by a bug."""


class InputError(SimkitError, ValueError):
    """A value in a file or argument is not what was expected.

    `where` names the field (scenario key, CSV row and column, CLI flag).
    """

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")
