"""Command-line layer: the options every script shares, their inputs, and where each run writes.

Every script imports this package first, so that one started outside the project's environment says how to run it
instead of failing on its first third-party import.
"""

import importlib.util
import os
import sys

_NEEDED = ('click', 'numpy', 'scipy', 'torch', 'PIL', 'tqdm')
_missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
if _missing:
    sys.exit(f'Error: {", ".join(_missing)} not installed for {sys.executable}: run the scripts with ./run '
             f'(./run {os.path.basename(sys.argv[0])} ...), which makes the environment .venv, or activate it first '
             f'(source .venv/bin/activate)')
