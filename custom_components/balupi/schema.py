"""The schema library Home Assistant validates flow forms with.

Home Assistant 2026.10 replaced voluptuous with its API-compatible successor probatio
(and aliases ``voluptuous`` to it at run time); older releases use voluptuous. The
flows build their schemas from whichever this Home Assistant uses, so that they type
check against both.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

vol = import_module("probatio" if find_spec("probatio") else "voluptuous")
