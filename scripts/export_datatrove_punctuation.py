"""Export datatrove's punctuation sets to winnow/data (run by hand).

The Gopher and FineWeb heuristics decide "symbol-only word" and "line ends a sentence" with
datatrove's ``PUNCTUATION_SET`` and ``TERMINAL_PUNCTUATION``; winnow ships the same sets
(datatrove is Apache-2.0; the exported file keeps its notice):

    pip install datatrove && python scripts/export_datatrove_punctuation.py
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

OUT = Path(__file__).resolve().parents[1] / "winnow" / "data" / "datatrove_punctuation.json"


def main() -> None:
    data = {
        "notice": f"From datatrove {version('datatrove')} (Hugging Face), Apache License 2.0.",
        "punctuation": sorted(PUNCTUATION_SET),
        "terminal_punctuation": sorted(TERMINAL_PUNCTUATION),
    }
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
