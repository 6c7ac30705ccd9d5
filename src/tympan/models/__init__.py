"""Model specs, the registry of servable models, and the manager that owns loaded ones."""

from tympan.models.manager import LoadedModel, ModelManager, ModelStatus
from tympan.models.registry import ModelRegistry
from tympan.models.spec import ModelSpec, path_size

__all__ = ["LoadedModel", "ModelManager", "ModelRegistry", "ModelSpec", "ModelStatus", "path_size"]
