"""Run as a script, a bench/*.py file has this folder first on sys.path, where inspect.py would
shadow the standard library's `inspect` (imported by dataclasses, pandas, ...). Importing this
module first puts the repository root there instead."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
