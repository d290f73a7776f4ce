"""The docs say what the binary does: docs/configuration.md's key table is `ringcast --help`, row for
row (regenerate it from the help text when a key changes)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import run_ringcast  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")


def help_rows():
    """docs/configuration.md rows for the flags of `ringcast --help`."""
    rows, started = [], False
    for line in run_ringcast("--help").stdout.splitlines():
        if line.strip().startswith("flag and default"):
            started = True
            continue
        if not started or not line.startswith("  --"):
            continue
        m = re.match(r"  (--[a-z0-9-]+) ?(\S*)\s+(.*)$", line)
        flag, default, meaning = m.group(1), m.group(2), m.group(3)
        default_cell = f"`{default}`" if default else "(empty)"
        rows.append(f"| `{flag[2:].replace('-', '_')}` (`{flag}`) | {default_cell} | {meaning.replace('|', chr(92) + '|')} |")
    return rows


class DocsTest(unittest.TestCase):
    def test_configuration_table_is_the_help_text(self):
        with open(os.path.join(DOCS, "configuration.md"), encoding="utf-8") as f:
            doc = f.read()
        table = [line for line in doc.splitlines() if line.startswith("| `") and "(`--" in line]
        expected = help_rows()
        self.assertGreater(len(expected), 20)
        missing = [r for r in expected if r not in table]
        stale = [r for r in table if r not in expected]
        self.assertEqual((missing, stale), ([], []),
                         "docs/configuration.md's key table differs from `ringcast --help`: regenerate it")


if __name__ == "__main__":
    unittest.main()
