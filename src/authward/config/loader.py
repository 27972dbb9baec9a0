"""Load the app module given by ``--app`` and find its one config."""

from __future__ import annotations

__all__ = ["load_app"]

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from authward.config.app import Config
from authward.config.auth import Auth
from authward.errors import ConfigError, MissingExtra


def load_app(path: str | Path) -> tuple[Config, ModuleType]:
    """Import ``path`` as a module and return its config. Config mistakes raise ConfigError."""
    file = Path(path)
    if file.is_dir():
        file = file / "app.py"
    if not file.is_file():
        raise ConfigError(f"app file {str(path)!r} not found (pass --app PATH or set AUTHWARD_APP)")
    module_name = f"authward_app_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {str(file)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Sibling modules (a shared ``models.py``) import the way they would with ``python app.py``.
    parent = str(file.resolve().parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (ConfigError, MissingExtra):
        sys.modules.pop(module_name, None)
        raise
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ConfigError(f"importing {file.name} failed: {type(exc).__name__}: {exc}") from exc
    return _find_config(module, file.name), module


def _find_config(module: ModuleType, file_name: str) -> Config:
    values = list(vars(module).values())
    auths = {id(v): v for v in values if isinstance(v, Auth)}
    if len(auths) > 1:
        names = sorted(v.name for v in auths.values())
        raise ConfigError(
            f"{file_name} defines {len(auths)} auths ({', '.join(names)}); "
            "an application has exactly one"
        )
    configs = {id(v): v for v in values if isinstance(v, Config)}
    if not configs:
        raise ConfigError(f"{file_name} defines no config: add config = define_config(auth=...)")
    if len(configs) > 1:
        raise ConfigError(f"{file_name} defines {len(configs)} configs; an application has one")
    (config,) = configs.values()
    if auths and next(iter(auths.values())) is not config.auth:
        raise ConfigError(
            f"{file_name} defines an auth that its config does not use; "
            "an application has exactly one auth"
        )
    return config
