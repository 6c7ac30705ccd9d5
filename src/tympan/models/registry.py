"""``ModelRegistry``: every model the service can serve, by id or alias.

Bundled models come from each task package's ``model_specs(settings)`` function, so a new
capability registers its models without touching this module. Trained models (classifiers,
fine-tuned Whisper) are added and removed at run time; a ``resolver`` finds on first use the
ones another process on the same database published after this one started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from tympan._discovery import iter_submodules
from tympan.config import Settings
from tympan.errors import ModelNotFound
from tympan.models.spec import ModelSpec

__all__ = ["ModelRegistry"]


class ModelRegistry:
    """Thread-safe catalogue of ``ModelSpec`` by id, with aliases (``whisper-1`` -> tiny.en)."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        self._resolvers: list[Callable[[str], ModelSpec | None]] = []
        for spec in specs:
            self.add(spec)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        """Collect the bundled and configured models of every task package."""
        specs: list[ModelSpec] = []
        for module in iter_submodules("tympan.tasks"):
            provider = getattr(module, "model_specs", None)
            if provider is not None:
                specs.extend(provider(settings))
        return cls(specs)

    def add(self, spec: ModelSpec) -> None:
        """Register (or replace) ``spec`` and its aliases."""
        with self._lock:
            self._specs[spec.id] = spec
            for alias in spec.aliases:
                self._aliases[alias] = spec.id

    def remove(self, model_id: str) -> None:
        """Forget a model and its aliases (unknown ids are ignored)."""
        with self._lock:
            self._specs.pop(model_id, None)
            for alias in [a for a, target in self._aliases.items() if target == model_id]:
                del self._aliases[alias]

    def add_resolver(self, resolve: Callable[[str], ModelSpec | None]) -> None:
        """Ask ``resolve(model_id)`` for ids not registered yet (None: it knows none)."""
        self._resolvers.append(resolve)

    def get(self, model_id: str, *, task: str | None = None) -> ModelSpec:
        """The spec for an id or alias; ``ModelNotFound`` (404) if unknown or of another task."""
        with self._lock:
            spec = self._specs.get(self._aliases.get(model_id, model_id))
        for resolve in self._resolvers if spec is None else ():
            if (spec := resolve(model_id)) is not None:
                self.add(spec)
                break
        if spec is None or (task is not None and spec.task != task):
            kind = f"{task} model" if task else "model"
            raise ModelNotFound(f"No {kind} named {model_id!r}.", param="model")
        return spec

    def default(self, task: str) -> ModelSpec:
        """The first registered model of ``task`` (task packages register their default first)."""
        specs = self.list(task)
        if not specs:
            raise ModelNotFound(f"No {task} model is available.", param="model")
        return specs[0]

    def list(self, task: str | None = None) -> list[ModelSpec]:
        """Registered specs, in registration order, optionally of one task."""
        with self._lock:
            specs = list(self._specs.values())
        return [spec for spec in specs if task is None or spec.task == task]
