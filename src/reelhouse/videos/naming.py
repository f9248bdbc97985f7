"""Video names: what a client sends, made safe to store, show and search."""

import unicodedata

# Names are stored in a column of this many characters.
NAME_LIMIT = 500
UNTITLED = "Untitled"


def clean_name(text: str) -> str:
    """``text`` without control characters, with runs of white space made one
    space, trimmed, and cut to the stored length; "" when nothing is left.

    Control characters (a NUL, a line break) would break headers and logs
    downstream, and never belong in a title.
    """
    visible = "".join(
        " " if unicodedata.category(char) == "Cc" else char for char in text
    )
    return " ".join(visible.split())[:NAME_LIMIT]


def folded(name: str) -> str:
    """The form names and search terms are compared in, ignoring case."""
    return clean_name(name).casefold()
