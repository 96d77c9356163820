"""The one exception type for errors a user can cause.

Unknown dataset, process or shift names, malformed YAML, missing branches, unreadable
files and unreachable servers all raise ``TmetError`` with a message that names the
offending thing and says what to do, so that law prints one clear line instead of a
traceback from deep inside ROOT.
"""


class TmetError(Exception):
    """A user-facing error of tmet (bad configuration, bad input, unreachable service)."""


def unknown_name_error(kind, name, valid):
    """Error for a name that is not among the valid ones, listing them."""
    return TmetError(f"unknown {kind} '{name}'; valid {kind} names: {', '.join(sorted(valid))}")
