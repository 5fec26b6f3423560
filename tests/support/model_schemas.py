"""Print every aiogram type's and method's schemas as JSON (run in a fresh process).

``python -m tests.support.model_schemas`` imports aiogram the way the environment says
(lazily through ``lambdagram``, or eagerly with ``LAMBDAGRAM_EAGER_TYPES=1``), then uses each model
once, which builds a deferred one, and prints its fields and JSON schemas, so two runs can
be compared. (Core schemas differ only in whether a nested model is inlined or referenced.)
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from typing import Any

import lambdagram  # noqa: F401 - installs lazy types unless switched off

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def schemas() -> dict[str, Any]:
    """Each model's schemas, and which models were already built right after the import."""
    import aiogram.methods
    import aiogram.types
    from pydantic import BaseModel

    complete_at_import: dict[str, bool] = {}
    out: dict[str, Any] = {}
    for package in (aiogram.types, aiogram.methods):
        for name in package.__all__:
            model = getattr(package, name)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            key = f"{package.__name__}.{name}"
            complete_at_import[key] = bool(model.__pydantic_complete__)
            # first use, as validation and serialization do it: builds a deferred model
            getattr(model.__pydantic_validator__, "validate_python")  # noqa: B009
            getattr(model.__pydantic_serializer__, "to_python")  # noqa: B009
            fields = {
                field: _ADDRESS.sub("", f"{info.annotation!r} = {info.default!r}")
                for field, info in model.model_fields.items()
            }
            entry: dict[str, Any] = {"fields": fields, "complete": model.__pydantic_complete__}
            try:
                entry["validation"] = model.model_json_schema(mode="validation")
                entry["serialization"] = model.model_json_schema(mode="serialization")
            except Exception as error:
                entry["json_schema_error"] = type(error).__name__
            out[key] = entry
    return {"models": out, "complete_at_import": complete_at_import}


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # pydantic notes Default(...) defaults it cannot show
    json.dump(schemas(), sys.stdout, sort_keys=True)
