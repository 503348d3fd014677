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


def read_toml(path, what: str) -> tuple[str, dict]:
    """(text, parsed dict) of a user's TOML file (`what`: "scenario file", "paper
    file"), or an InputError naming the file and what was wrong with it."""
    import tomllib
    from pathlib import Path
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(str(path), f"cannot read the {what}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(str(path), "not valid TOML: not a UTF-8 text file") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(str(path), f"not valid TOML: {e}") from None
