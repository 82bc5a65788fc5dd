"""The one exception type the CLI turns into a single sentence and a non-zero exit."""


class LionError(Exception):
    """A problem the user can fix (bad input, bad config, a folder in use).

    The message is shown as is, so it must be one clear sentence that names the file, line
    and field where that applies, and must never contain a secret.
    """
