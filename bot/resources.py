"""Files learnbot reads beside its code: the Alembic environment (alembic.ini, migrations/) and manifest.yml.

They live at the top of the source tree; a wheel carries copies in `bot/_shipped/` (setup.py), so
`pip install .` runs `learnbot migrate` and `check --online` as an editable install does.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SOURCE_TREE = PACKAGE.parent
SHIPPED = PACKAGE / "_shipped"


def shipped(name: str) -> Path:
    """`name` from the wheel's copy when installed from one, else from the source tree (editable, a checkout)."""
    packaged = SHIPPED / name
    return packaged if packaged.exists() else SOURCE_TREE / name
