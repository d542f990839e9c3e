"""The one exception type for a user's mistake: printed as a clear message, never a traceback."""


class UserError(Exception):
    """Bad input, a wrong flag, an unplugged board: something the user can fix.

    The message says what was wrong and how to fix it; the CLI prints it and exits 2.
    """
