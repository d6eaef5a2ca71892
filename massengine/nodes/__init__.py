"""Node models, one per file; ``MODELS`` maps registry names to classes."""

from .base import NodeModel
from .fitzhugh_nagumo import FitzHughNagumo
from .hopf import Hopf
from .jansen_rit import JansenRit
from .kuramoto import Kuramoto
from .montbrio import MontbrioPazoRoxin
from .wilson_cowan import WilsonCowan
from .wong_wang import ReducedWongWang

MODELS = {model.name: model for model in (Hopf, JansenRit, WilsonCowan, FitzHughNagumo, Kuramoto,
                                          ReducedWongWang, MontbrioPazoRoxin)}


def get_model(name: str) -> type[NodeModel]:
    """The node-model class registered as ``name``; an unknown name lists the valid ones."""
    from ..parameters import closest

    if name not in MODELS:
        raise ValueError(
            f"unknown node model {name!r}; valid models: {', '.join(MODELS)}."
            + closest(str(name), MODELS)
        )
    return MODELS[name]


__all__ = ["NodeModel", "Hopf", "JansenRit", "WilsonCowan", "FitzHughNagumo", "Kuramoto", "ReducedWongWang",
           "MontbrioPazoRoxin", "MODELS", "get_model"]
