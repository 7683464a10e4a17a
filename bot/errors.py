"""The errors a person can cause or fix, one hierarchy for every layer.

Each carries, as its message, the sentence the user sees. Front ends map the kind to their own
form in one place each: an exit status (the CLI), an HTTP status, a Discord reply. Anything not a
NewsbotError is a bug: logged with its traceback, shown to the user only as an apology.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class NewsbotError(Exception):
    """Base of every user-facing error; ``str(exc)`` is the one-line sentence to show."""


class BadInput(NewsbotError):
    """The request itself is wrong (a question that cannot be searched, ``k`` out of range)."""


class QuestionError(BadInput, ValueError):
    """The question cannot be searched; the message tells the person why, in one line."""


class QuestionTooLong(QuestionError):
    """The question is over the length limit (HTTP answers it with 413)."""


class ConfigError(NewsbotError):
    """A settings file, synonyms file or evaluation set is unusable; the message names the key."""


class CorpusError(NewsbotError):
    """The sources or the index cannot be used; the message names the file and the fix."""


class Unavailable(NewsbotError):
    """The service cannot answer right now (no index loaded yet, or any more)."""


class StartError(NewsbotError):
    """A server or bot could not start (a port in use, a token Discord rejects, no network)."""


class LogError(NewsbotError):
    """The question log cannot be read for a report (off, absent or unreadable)."""


def exit_status(exc: BaseException) -> int:
    """The exit status a command ends with for ``exc``: 2 for bad input, 1 for anything else.

    The one mapping to exit statuses, for every process entry point (the CLI, server workers).
    """
    return EXIT_USAGE if isinstance(exc, BadInput) else EXIT_FAILURE
