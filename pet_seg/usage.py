"""The one error the command lines raise for a value a user typed that cannot work.

``evaluate`` and ``predict`` turn it into ``<command>: error: <message>`` and exit 2-style,
without a traceback: the message already names the key and the choices.
"""


class UsageError(ValueError):
    """A command-line value that cannot work; the message names the key and what to pass."""
