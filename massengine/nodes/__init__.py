"""Node models, one per file; ``MODELS`` maps registry names to classes."""

from .base import NodeModel
from .hopf import Hopf

MODELS = {model.name: model for model in (Hopf,)}


def get_model(name: str) -> type[NodeModel]:
    """The node-model class registered as ``name``; an unknown name lists the valid ones."""
    from ..parameters import closest

    if name not in MODELS:
        raise ValueError(
            f"unknown node model {name!r}; valid models: {', '.join(MODELS)}."
            + closest(str(name), MODELS)
        )
    return MODELS[name]


__all__ = ["NodeModel", "Hopf", "MODELS", "get_model"]
