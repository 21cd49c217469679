"""Makes the modules named in ``WINNOW_TEST_WITHOUT`` (comma-separated top-level names)
impossible to import, as in an environment without them (tests/test_extras.py puts this
folder on ``PYTHONPATH``, so every process of a run sees the same)."""

import os
import sys

_BLOCKED = {m for m in os.environ.get("WINNOW_TEST_WITHOUT", "").split(",") if m}


class _Without:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if _BLOCKED:
    sys.meta_path.insert(0, _Without())
