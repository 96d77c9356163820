"""The one exception type for errors a user can cause.

Unknown dataset, process or shift names, malformed YAML, missing branches, unreadable
files and unreachable servers all raise ``TmetError`` with a message that names the
offending thing and says what to do, so that law prints one clear line instead of a
traceback from deep inside ROOT.
"""

import re


class TmetError(Exception):
    """A user-facing error of tmet (bad configuration, bad input, unreachable service)."""


def unknown_name_error(kind, name, valid):
    """Error for a name that is not among the valid ones, listing them."""
    return TmetError(f"unknown {kind} '{name}'; valid {kind} names: {', '.join(sorted(valid))}")


# a name that becomes a path component of the store: letters, digits, "_", "." and "-", no
# separator, not starting with a dot (so never "..", a hidden or temporary name, or absolute)
PATH_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def checked_name(kind, value):
    """``value`` if it can be a path component of the store; else an error naming ``kind``."""
    if not isinstance(value, str) or not PATH_NAME.fullmatch(value):
        raise TmetError(f"{kind} '{value}' is not a valid name: use letters, digits, '_', '.' and '-', "
                        f"without a leading '.' (it becomes part of output paths)")
    return value
