"""Build aiogram's pydantic models on first use instead of at import (the cold start).

``import aiogram`` costs about 2 s and 165 MB RSS: ``aiogram/types/__init__.py`` ends with a
loop calling ``model_rebuild()`` on ~440 types, and every one of ~170 ``aiogram.methods``
classes builds its validator as it is defined. A Lambda function pays that on every cold
start, though one update touches a handful of models. `install` imports aiogram with

1. the ``model_rebuild(_types_namespace=...)`` loop skipped (the namespace it carries is kept),
2. pydantic's ``defer_build=True`` in force for the models defined meanwhile, so each builds
   its validator and serializer the first time it is used (pydantic's own mechanism), and
3. the kept namespace (every type by name, ``Default``, ...) added to each aiogram types and
   methods module, so those deferred builds resolve the forward references that aiogram
   imports only under ``TYPE_CHECKING``, and
4. each distinct annotation string compiled once (`_compile_once`).

The result is the same models (tests compare every type's and method's JSON schema with an
eager import), built when needed. It is checked against the aiogram versions in
`CHECKED_AIOGRAM`; another version refuses to start rather than risk a subtle break
(``LAMBDAGRAM_EAGER_TYPES=1`` turns the trick off, and so does importing aiogram first).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import typing
from pathlib import Path
from types import CodeType
from typing import Any

CHECKED_AIOGRAM = frozenset({"3.31.0"})
OFF_SWITCH = "LAMBDAGRAM_EAGER_TYPES"


class UnsupportedAiogram(RuntimeError):
    """The installed aiogram was not checked with this module."""


def install(environ: dict[str, str] | None = None) -> bool:
    """Import aiogram with deferred model building; False if it was off or too late."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(OFF_SWITCH, "").lower() in {"1", "true", "yes"}:
        return False
    if "aiogram" in sys.modules:
        return False  # imported eagerly already; nothing left to save
    version = aiogram_version()
    if version not in CHECKED_AIOGRAM:
        msg = (
            f"lambdagram.lazy_types was checked with aiogram "
            f"{', '.join(sorted(CHECKED_AIOGRAM))}, but {version} is installed: check it "
            "(tests/lambdagram/test_lazy_types.py) and add the version to CHECKED_AIOGRAM, "
            f"or set {OFF_SWITCH}=1 to import aiogram eagerly"
        )
        raise UnsupportedAiogram(msg)

    from pydantic import BaseModel

    original_rebuild = BaseModel.__dict__["model_rebuild"]
    original_config = BaseModel.model_config
    captured: dict[str, Any] = {}

    def skip_aiogram_loop(cls: type[BaseModel], *args: Any, **kwargs: Any) -> bool | None:
        namespace = kwargs.get("_types_namespace")
        if namespace is not None and cls.__module__.startswith("aiogram."):
            captured.update(namespace)
            return None
        result: bool | None = original_rebuild.__func__(cls, *args, **kwargs)
        return result

    BaseModel.model_rebuild = classmethod(skip_aiogram_loop)  # type: ignore[method-assign,assignment]
    BaseModel.model_config = {**original_config, "defer_build": True}
    typing.compile = _compile_once  # type: ignore[attr-defined]
    try:
        import aiogram  # noqa: F401 - the import being made lazy
    finally:
        BaseModel.model_rebuild = original_rebuild  # type: ignore[method-assign]
        BaseModel.model_config = original_config
        del typing.compile  # type: ignore[attr-defined]
        _compiled.clear()
    if not captured:
        msg = f"aiogram {version} no longer rebuilds its types at import: update bot.lazy_types"
        raise UnsupportedAiogram(msg)
    _namespace.update(captured)
    for name, module in list(sys.modules.items()):
        if name.startswith(("aiogram.types.", "aiogram.methods.")) and module is not None:
            # the kept names where the module lacks them, its own where it has them: two
            # C-level updates instead of a set difference per module (~630 modules, ~450 names:
            # 9 ms instead of 28 ms of the cold start)
            namespace = module.__dict__
            own = dict(namespace)
            namespace.update(captured)
            namespace.update(own)
    return True


_compiled: dict[tuple[str, str, str], CodeType] = {}
_namespace: dict[str, Any] = {}  # aiogram's types by name, as its skipped rebuild loop had them


def complete_foreign_models() -> int:
    """Build the models other packages derived from aiogram's (aiogram-dialog's
    ``DialogUpdate(Update)``) that pydantic could not: their inherited fields name aiogram
    types its skipped rebuild loop would have supplied. The number built (0 when `install`
    did not run)."""
    if not _namespace:
        return 0
    from aiogram.types import TelegramObject

    built = 0
    pending = list(TelegramObject.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("aiogram.") and not cls.__pydantic_complete__:
            cls.model_rebuild(_types_namespace=_namespace)
            built += 1
    return built


def _compile_once(source: Any, filename: str, mode: str, *args: Any, **kwargs: Any) -> Any:
    """``compile`` for ``typing.ForwardRef`` during the import: aiogram's ~4000 string
    annotations ("str | None", "Message", ...) repeat, and compiling each again cost ~50 ms.
    Code objects are immutable, so one per distinct string serves them all."""
    if args or kwargs or not isinstance(source, str):
        return compile(source, filename, mode, *args, **kwargs)
    key = (source, filename, mode)
    code = _compiled.get(key)
    if code is None:
        code = _compiled[key] = compile(source, filename, mode)
    return code


def aiogram_version() -> str:
    """The installed aiogram's version, read without importing aiogram (or
    ``importlib.metadata``, which alone costs ~25 ms of cold start)."""
    spec = importlib.util.find_spec("aiogram")
    if spec is None or not spec.submodule_search_locations:
        msg = "aiogram is not installed"
        raise UnsupportedAiogram(msg)
    meta = Path(next(iter(spec.submodule_search_locations))) / "__meta__.py"
    found = re.search(r'^__version__ = "([^"]+)"', meta.read_text(), re.MULTILINE)
    if found is None:
        msg = f"cannot read aiogram's version from {meta}"
        raise UnsupportedAiogram(msg)
    return found.group(1)
