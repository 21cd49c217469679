"""Stages from outside winnow: modules a recipe names (``plugins: [mypackage.stages]``) and
packages that declare a ``winnow.stages`` entry point. Importing such a module registers its
stages (``@register``), with the same contract, validation, ledger and executors as built-in
ones. Recipes name modules, never files or code."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

import xxhash

GROUP = "winnow.stages"
MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PluginError(Exception):
    """A plugin that cannot be imported: names it and why."""


@functools.cache
def load_entry_points() -> dict[str, str]:
    """Import every installed ``winnow.stages`` entry point (once per process); their modules
    and versions. Raises PluginError naming a plugin that fails (or registers a name twice)."""
    import winnow.stages  # noqa: F401 - the built-in stages first

    found = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        try:
            ep.load()
        except Exception as err:  # a broken plugin must name itself, not stop in a traceback
            raise PluginError(f"plugin entry point {ep.name} = {ep.value}: {err}") from err
        module = ep.value.split(":")[0]
        dist = ep.dist
        found[module] = f"{dist.name} {dist.version}" if dist else module_version(module)
    return found


def import_plugins(names: list[str]) -> dict[str, str]:
    """Import the modules a recipe names; their versions. Raises PluginError."""
    load_entry_points()
    versions = {}
    for name in names:
        if not MODULE_NAME.match(name):
            raise PluginError(f"{name!r}: give an importable module name, not a path")
        try:
            importlib.import_module(name)
        except Exception as err:  # includes a stage name registered twice
            raise PluginError(f"cannot import {name!r} ({type(err).__name__}: {err})") from err
        versions[name] = module_version(name)
    return versions


def module_version(name: str) -> str:
    """The version of the distribution that ships a module, else a digest of its file."""
    top = name.split(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        return f"{dist} {importlib.metadata.version(dist)}"
    path = getattr(sys.modules.get(name), "__file__", None)
    if path is None:
        return "unknown"
    return "file " + xxhash.xxh3_64_hexdigest(Path(path).read_bytes())
