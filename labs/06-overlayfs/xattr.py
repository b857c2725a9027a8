#!/usr/bin/env python3
"""xattr.py: read and write extended attributes, the way OverlayFS keeps its notes.

  xattr.py PATH...                 every attribute of each PATH, as `getfattr -d -m - PATH` prints them
  xattr.py -w NAME VALUE PATH...   set NAME to VALUE, as `setfattr -n NAME -v VALUE PATH`

getfattr and setfattr come in Debian's `attr` package, which the lab does not
need otherwise; Python's os module makes the same system calls (getxattr,
listxattr, setxattr), without following a symlink. Values that are text are
printed in quotes, others (a file handle in trusted.overlay.origin) in hex.
The trusted.* attributes OverlayFS uses are visible to root only.

Containers From Scratch, chapter 6.
"""
import os
import sys


def show(value: bytes) -> str:
    text = value.rstrip(b"\0")
    if all(32 <= b < 127 for b in text):
        return '"' + text.decode() + '"'
    return "0x" + value.hex()


def dump(path: str) -> None:
    names = sorted(os.listxattr(path, follow_symlinks=False))
    print("# file: " + path)
    for name in names:
        print(name + "=" + show(os.getxattr(path, name, follow_symlinks=False)))
    print()


def main(args: list[str]) -> int:
    if args[:1] == ["-w"] and len(args) >= 4:
        name, value = args[1], args[2].encode()
        for path in args[3:]:
            os.setxattr(path, name, value, follow_symlinks=False)
        return 0
    if not args or args[0].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    for path in args:
        dump(path)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as err:
        print(f"xattr.py: {err.filename}: {err.strerror}", file=sys.stderr)
        sys.exit(1)
