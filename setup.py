"""The wheel's build step beyond pyproject.toml: it also carries the deployment kit that
``python -m lambdagram new`` writes into a new bot project (``lambdagram/new_project.py``
names the files), copied from this repository into ``lambdagram/project_kit/``."""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _new_project():  # the module alone: importing the package would import aiogram
    spec = importlib.util.spec_from_file_location(
        "new_project", ROOT / "lambdagram" / "new_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithKit(build_py):
    def run(self):
        super().run()
        kit = Path(self.build_lib) / "lambdagram" / "project_kit"
        for path in _new_project().kit_files(ROOT):
            destination = kit / path.relative_to(ROOT)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


setup(cmdclass={"build_py": BuildWithKit})
