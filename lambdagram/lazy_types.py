"""Import and build only the aiogram models an update uses (the cold start).

``import aiogram`` costs about 2 s and 165 MB RSS: ``aiogram/types/__init__.py`` imports ~440
type modules and ends with a loop calling ``model_rebuild()`` on each, ``aiogram/methods``
imports ~185 method modules, and every one of those ~600 pydantic classes builds its
validator as it is defined. A Lambda function pays that on every cold start, though one
update touches a handful of models. `install` imports aiogram with

1. ``aiogram.types`` and ``aiogram.methods`` as lazy packages: their ``__init__`` is not run;
   a name (``Message``, ``SendMessage``) imports its module on first access, so a process
   imports the ~200 types an ``Update`` can hold and the methods it calls, not all ~630;
2. ``aiogram.client.bot`` given stand-ins for the ~185 methods and ~70 types it imports
   (its methods call one, ``SendMessage(...)``, and the first call imports the real class
   and puts it in the stand-in's place; the types appear only in annotations);
3. each type or method module, once run, given the aiogram types its models' annotations
   and their base classes' name (what aiogram imports only under ``TYPE_CHECKING`` and its
   skipped rebuild loop would have supplied), importing those in turn, so a deferred build
   resolves every forward reference from the module's own namespace (pydantic evaluates an
   inherited field's annotation in the subclass's module);
4. pydantic's ``defer_build=True`` in force while those modules run, so each model builds
   its validator and serializer the first time it is used (pydantic's own mechanism), and
   each distinct annotation string compiled once (`_compile_once`);
5. those first builds made one at a time (`_one_build_at_a_time`): pydantic's
   ``model_rebuild`` is not thread-safe before 2.14 (pydantic#13419), and aiogram pins
   ``pydantic<2.14``; an eager import builds them all under its own import lock.

The result is the same models (tests compare every type's and method's JSON schema with an
eager import), imported and built when needed. It is checked against the aiogram versions in
`CHECKED_AIOGRAM`; another version refuses to start rather than risk a subtle break
(``LAMBDAGRAM_EAGER_TYPES=1`` turns the trick off, and so does importing aiogram first).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
import typing
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # importlib.abc alone costs ~20 ms of cold start: the classes are duck-typed
    from importlib.abc import Loader

CHECKED_AIOGRAM = frozenset({"3.31.0"})
OFF_SWITCH = "LAMBDAGRAM_EAGER_TYPES"
PACKAGES = ("aiogram.types", "aiogram.methods")
ON_FIRST_USE = ("aiogram.client.session.aiohttp", "aiofiles")  # Bot's default session, files
STAND_INS_FOR = "aiogram.client.bot"  # imports all of the above, uses a few of them

_FROM_LINE = re.compile(r"^from \.(\w+) import (?:\(([^)]*)\)|([\w, ]+)$)", re.MULTILINE)
_ALL = re.compile(r"^__all__ = \((.*?)^\)", re.MULTILINE | re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]\w*")


class UnsupportedAiogram(RuntimeError):
    """The installed aiogram was not checked with this module."""


def install(environ: dict[str, str] | None = None) -> bool:
    """Import aiogram lazily (above); False if it was off or too late."""
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
    sys.meta_path.insert(0, _Finder())
    with _deferring():
        import aiogram  # noqa: F401 - the import being made lazy

        _complete_pending()
    _one_build_at_a_time()
    return True


def complete_foreign_models() -> int:
    """Build the models other packages derived from aiogram's (aiogram-dialog's
    ``DialogUpdate(Update)``) that pydantic could not at their definition. The number
    built (0 when `install` did not run)."""
    if not _tables:
        return 0
    from aiogram.types import TelegramObject

    built = 0
    pending = list(TelegramObject.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("aiogram.") and not cls.__pydantic_complete__:
            types, table = sys.modules["aiogram.types"], _tables["aiogram.types"]
            namespace = {**_EXTRAS, **_default()}
            for name in _inherited_names(cls) & table.keys():
                namespace[name] = getattr(types, name)  # completes a newly run module
            cls.model_rebuild(_types_namespace=namespace)
            built += 1
    return built


# ---- the lazy packages ---------------------------------------------------------------------

_tables: dict[str, dict[str, str]] = {}  # package -> {name: its submodule}
_lazy_imports = threading.RLock()
"""Held while a name is imported and its modules completed, so two threads asking for names
at once do not each see the other's modules half-completed (the import system's own locks
are per module: they let a thread through to a module another is running when waiting
would deadlock)."""


class _Finder:
    """Hands aiogram's types and methods packages and their modules to the loaders below."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package = fullname.rpartition(".")[0]
        if fullname not in PACKAGES and package not in PACKAGES and fullname not in ON_FIRST_USE:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        if fullname in PACKAGES:
            spec.loader = cast("Loader", _LazyPackage())
        elif fullname in ON_FIRST_USE:
            spec.loader = cast("Loader", _OnFirstUse(spec.loader))
        else:
            spec.loader = cast("Loader", _CompletingLoader(spec.loader))
        return spec


class _LazyPackage:
    """A package whose names import their modules on first access."""

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        assert module.__spec__ is not None
        assert module.__spec__.origin is not None
        table = _read_table(Path(module.__spec__.origin), module.__name__)
        _tables[module.__name__] = table
        stand_ins: dict[str, _StandIn] = {}

        def __getattr__(name: str) -> Any:  # noqa: N807 - the module's own hook
            submodule = table.get(name)
            if submodule is None:
                msg = f"module {module.__name__!r} has no attribute {name!r}"
                raise AttributeError(msg)
            if _bot_module_running():
                stand_in = stand_ins.get(name)
                if stand_in is None:
                    stand_in = stand_ins[name] = _StandIn(module, name)
                return stand_in
            with _lazy_imports, _deferring():
                found = importlib.import_module(f"{module.__name__}.{submodule}")
                if found.__name__ not in _completed:  # run by another thread, not yet completed
                    _to_complete(found)
                value = getattr(found, name)
            setattr(module, name, value)  # later accesses skip this hook
            return value

        def __dir__() -> list[str]:  # noqa: N807
            return sorted({*module.__dict__, *table})

        module.__dict__.update(__getattr__=__getattr__, __dir__=__dir__, __all__=tuple(table))


def _read_table(init: Path, package: str) -> dict[str, str]:
    """{name: submodule} from the package's ``from .submodule import Name`` lines, checked
    against its ``__all__`` (a change there refuses to start instead of losing a name)."""
    source = init.read_text(encoding="utf-8")
    table = {
        name: submodule
        for submodule, wrapped, names in _FROM_LINE.findall(source)
        for name in _WORD.findall(wrapped or names)
    }
    listed = _ALL.search(source)
    exported = set(re.findall(r'"(\w+)"', listed.group(1))) if listed else set()
    if not exported or exported != set(table):
        msg = (
            f"{package}'s __init__ no longer lists its names as lambdagram.lazy_types reads "
            f"them ({len(exported ^ set(table))} differ): set {OFF_SWITCH}=1 and update it"
        )
        raise UnsupportedAiogram(msg)
    return table


def _bot_module_running() -> bool:
    """Whether the code asking for a name is `STAND_INS_FOR`'s own top level (its import),
    past the import system's frames."""
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_globals.get("__name__") == "importlib._bootstrap":
        frame = frame.f_back
    return frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == STAND_INS_FOR


class _OnFirstUse:
    """Runs a module when one of its names is first used, not when it is imported
    (`STAND_INS_FOR`'s import gets stand-ins for the names it takes)."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader
        self._lock = threading.Lock()

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        loader, lock, namespace = self._loader, self._lock, module.__dict__

        def __getattr__(name: str) -> Any:  # noqa: N807 - the module's own hook
            if name == "__path__":  # the import system asking whether it is a package
                raise AttributeError(name)
            if _bot_module_running():
                return _StandIn(module, name)
            with lock:
                if namespace.get("__getattr__") is __getattr__:
                    del namespace["__getattr__"]
                    loader.exec_module(module)
            return getattr(module, name)

        namespace["__getattr__"] = __getattr__


class _StandIn:
    """A method or type in ``aiogram.client.bot``'s namespace until first used, then the
    real one there (so each call after the first is aiogram's own)."""

    __slots__ = ("_name", "_package")

    def __init__(self, package: ModuleType, name: str) -> None:
        self._package = package
        self._name = name

    def _resolve(self) -> Any:
        value = getattr(self._package, self._name)  # imports it (this is not the bot module)
        home = sys.modules[STAND_INS_FOR].__dict__
        if home.get(self._name) is self:
            home[self._name] = value
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._resolve(), attribute)

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, self._resolve())

    def __subclasscheck__(self, subclass: type) -> bool:
        return issubclass(subclass, self._resolve())

    def __repr__(self) -> str:
        return f"<stand-in for {self._package.__name__}.{self._name}>"


# ---- completing each module's namespace ----------------------------------------------------

_EXTRAS: dict[str, Any] = {
    "List": list,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "Literal": typing.Literal,
}  # and "Default": what aiogram's rebuild loop added besides the types


class _Progress(threading.local):
    """One thread's part: the modules it ran whose names wait (each thread completes its
    own, so none returns from an import with a module another thread has yet to complete),
    how many it is running now, and whether it is completing them."""

    def __init__(self) -> None:
        self.pending: list[ModuleType] = []
        self.running = 0
        self.completing = False


_progress = _Progress()


class _CompletingLoader:
    """Runs a type or method module; once the thread runs no other such module (none is
    half-run), gives it and those run meanwhile the types their annotations name."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        progress = _progress
        with _deferring():
            progress.running += 1
            try:
                self._loader.exec_module(module)
            finally:
                progress.running -= 1
            _to_complete(module)


_completed: set[str] = set()  # modules given their names (by whichever thread came first)


def _to_complete(module: ModuleType) -> None:
    """Note ``module`` for completing, and complete what is noted unless this thread is
    still running a module (a half-run one cannot give its names yet)."""
    _progress.pending.append(module)
    if _progress.running == 0:
        _complete_pending()


def _complete_pending() -> None:
    """Give each module this thread ran since the last call, and each module whose models
    those reach, the types their models' annotations name, importing them (and completing
    theirs in turn) until none is left. A module another thread ran but has yet to complete
    is completed here too (completing is idempotent), so no thread goes on with a model
    whose build would miss a name."""
    progress = _progress
    if progress.completing:
        return  # the call this one is nested in takes the new modules too
    progress.completing = True
    try:
        types = sys.modules["aiogram.types"]
        table = _tables["aiogram.types"]
        extras = {**_EXTRAS, **_default()}
        work = progress.pending
        while work:
            module = work.pop()
            if module.__name__ in _completed:
                continue
            _complete(module, types, table, extras)
            for value in list(module.__dict__.values()):
                home = value.__module__ if isinstance(value, type) else ""
                if home not in _completed and home.rpartition(".")[0] in PACKAGES:
                    other = sys.modules.get(home)
                    if other is not None and not _initializing(other):
                        work.append(other)
    finally:
        progress.completing = False


def _complete(
    module: ModuleType, types: ModuleType, table: dict[str, str], extras: dict[str, Any]
) -> None:
    """Add the extras and the types named by the annotations of the module's models and
    their bases (pydantic evaluates an inherited field's annotation in the subclass's
    module) to the module's namespace, where it lacks them."""
    namespace = module.__dict__
    for name, value in extras.items():
        namespace.setdefault(name, value)
    wanted: set[str] = set()
    for value in list(namespace.values()):
        if isinstance(value, type) and value.__module__ == module.__name__:
            wanted |= _inherited_names(value)
    for name in wanted:
        if name not in namespace and name in table:
            namespace[name] = getattr(types, name)  # may run more modules: pending
    _completed.add(module.__name__)


def _initializing(module: ModuleType) -> bool:
    """Whether the module is still being run (by another thread: this one has none)."""
    return bool(getattr(module.__spec__, "_initializing", False))


def _inherited_names(cls: type) -> set[str]:
    """The names in the string annotations of a class and its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        for annotation in inspect.get_annotations(klass).values():
            if isinstance(annotation, str):
                names.update(_WORD.findall(annotation))
    return names


def _default() -> dict[str, Any]:
    from aiogram.client.default import Default

    return {"Default": Default}


# ---- deferred builds while aiogram's modules run, made one at a time -----------------------


def _one_build_at_a_time() -> None:
    """Make the first build of each aiogram model (and of a model derived from one) hold
    `_lazy_imports`. pydantic builds a deferred model in ``model_rebuild``, which sets and
    deletes the class's attributes while another thread's build of a model that refers to it
    iterates them (``RuntimeError: dictionary changed size during iteration``, or an
    ``AttributeError`` for ``__pydantic_core_schema__``). One lock for imports and builds:
    either may need the other, so two locks could be taken in opposite orders."""
    from aiogram.client.context_controller import BotContextController  # both bases' base

    rebuild = inspect.getattr_static(BotContextController, "model_rebuild").__func__

    def model_rebuild(
        cls: type[Any],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        depth = _parent_namespace_depth + 1 if _parent_namespace_depth else 0  # this frame
        with _lazy_imports:
            result: bool | None = rebuild(
                cls,
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=depth,  # where pydantic finds the caller's names
                _types_namespace=_types_namespace,
            )
        return result

    model_rebuild.__doc__ = rebuild.__doc__
    setattr(BotContextController, "model_rebuild", classmethod(model_rebuild))  # noqa: B010


_depth = 0
_depth_lock = threading.Lock()
_compiled: dict[tuple[str, str, str], CodeType] = {}


class _deferring:  # noqa: N801 - used as a context manager, named like contextlib's
    """pydantic's ``defer_build`` and `_compile_once` while aiogram's modules run (nested
    uses leave them to the outermost)."""

    def __enter__(self) -> None:
        global _depth
        with _depth_lock:
            _depth += 1
            outermost = _depth == 1
        if outermost:
            from pydantic import BaseModel

            self._config = BaseModel.model_config
            BaseModel.model_config = {**self._config, "defer_build": True}
            typing.compile = _compile_once  # type: ignore[attr-defined]
        self._outermost = outermost

    def __exit__(self, *exc: object) -> None:
        global _depth
        if self._outermost:
            from pydantic import BaseModel

            BaseModel.model_config = self._config
            del typing.compile  # type: ignore[attr-defined]
        with _depth_lock:
            _depth -= 1


def _compile_once(source: Any, filename: str, mode: str, *args: Any, **kwargs: Any) -> Any:
    """``compile`` for ``typing.ForwardRef`` while aiogram's modules run: their ~4000 string
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
