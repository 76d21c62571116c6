"""The one exception users see: a problem they can fix, printed as one line."""


class UserError(Exception):
    """A problem the user can fix (bad params, bad data, a bad file); printed as one line,
    `error: <message>`, with exit code 1 and no traceback."""
