"""Exits 0 when every package pinned in a requirements file is installed at its pinned version.

Usage: installed.py REQUIREMENTS.txt

Lets scripts/lint-delivery.sh skip pip when the venv already has what it needs. Understands the
`name==version` lines scripts/lint-delivery/requirements.txt is made of, and comments.
"""

import sys
from importlib.metadata import PackageNotFoundError, version


def pins(text):
    """(name, version) of each `name==version` line."""
    found = []
    for raw in text.splitlines():
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        name, sep, wanted = entry.partition("==")
        if not sep:
            raise ValueError(f"not pinned with ==: {entry!r}")
        found.append((name.strip(), wanted.strip()))
    return found


def missing(requirements, installed=version):
    """The pins not satisfied, as "name==version (have ...)" strings."""
    wrong = []
    for name, wanted in requirements:
        try:
            have = installed(name)
        except PackageNotFoundError:
            have = None
        if have != wanted:
            wrong.append(f"{name}=={wanted} (have {have or 'none'})")
    return wrong


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        wrong = missing(pins(f.read()))
    for entry in wrong:
        print(f"not installed: {entry}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
