"""What pyproject.toml cannot say: a wheel carries the Alembic environment and the Slack manifest.

The design card keeps them at the top of the source tree (`migrations/`, `alembic.ini`,
`manifest.yml`), where `alembic` and Slack's app settings read them. A wheel has no source tree,
so the build copies them into the package as `bot/_shipped/`, where `bot.resources` finds them
(an editable install and the source tree use the originals).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("alembic.ini", "manifest.yml", "migrations")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # the source tree is the package's home: nothing to copy
            return
        root = Path(__file__).parent
        target = Path(self.build_lib, "bot", "_shipped")
        for name in SHIPPED:
            source = root / name
            if source.is_dir():
                for path in sorted(source.rglob("*")):
                    if path.is_file() and "__pycache__" not in path.parts:
                        out = target / path.relative_to(root)
                        self.mkpath(str(out.parent))
                        self.copy_file(str(path), str(out))
            else:
                self.mkpath(str(target))
                self.copy_file(str(source), str(target / name))


setup(cmdclass={"build_py": BuildWithShippedFiles})
