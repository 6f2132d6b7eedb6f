"""One line per check, in the form scripts/lint-delivery.sh tallies.

A checker calls `check(ok, what, why)` for each thing it verifies; the line is printed at once, so
the checks made before an unexpected error still show. `why` is shown only on failure.
"""


def line(ok, what, why=""):
    """The line for one check: "ok: what", or "FAIL: what (why)"."""
    if ok:
        return f"ok: {what}"
    return f"FAIL: {what}" + (f" ({why})" if why else "")


class Report:
    """Prints each check's line as it is made, and keeps them for the tests."""

    def __init__(self, out=print):
        self.out = out
        self.lines = []

    def check(self, ok, what, why=""):
        text = line(ok, what, why)
        self.lines.append(text)
        self.out(text)

    @property
    def failures(self):
        return [text for text in self.lines if text.startswith("FAIL: ")]
