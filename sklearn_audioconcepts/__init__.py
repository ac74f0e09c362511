"""Interpretable audio embeddings as scikit-learn estimators.

Public estimators:

- :class:`CLAPEmbedder`: audio (files or waveforms) to LAION-CLAP embeddings,
  and text to the same space with :meth:`CLAPEmbedder.embed_text`.
- :class:`MiniCLAP`: a small CLAP-style audio-text model trained from scratch
  on captioned audio (controlled experiments, small corpora).
- :class:`ConceptDecomposer`: dense embeddings -> sparse nonnegative weights
  over named text concepts (SpLiCE recipe applied to CLAP audio embeddings).
- :class:`ConceptVocabulary`: the names and embeddings of those concepts.
- :class:`FineTunedConceptProjector`: a linear projector trained on a task so
  that the concept weights serve it better, still over named concepts.
- :class:`ZeroShotClassifier`: classify embeddings (dense or concept
  reconstructions) against class prompts embedded by the text encoder.
- :class:`TopKSparseAutoencoder`: TopK sparse autoencoder whose latents turn
  speaker embeddings into sparse, often mono-semantic features.
- :class:`TitaNetEmbedder`, :class:`ResemblyzerEmbedder`: audio to speaker
  embeddings (NeMo TitaNet; the pretrained encoder shipped with resemblyzer).
"""

from .clap import CLAPEmbedder
from .data import load_audio_concepts
from .decomposition import ConceptDecomposer
from .miniclap import MiniCLAP
from .projector import FineTunedConceptProjector
from .sae import TopKSparseAutoencoder
from .speaker import ResemblyzerEmbedder, TitaNetEmbedder
from .vocabulary import ConceptVocabulary
from .zero_shot import ZeroShotClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "CLAPEmbedder",
    "ConceptDecomposer",
    "ConceptVocabulary",
    "FineTunedConceptProjector",
    "MiniCLAP",
    "ResemblyzerEmbedder",
    "TitaNetEmbedder",
    "TopKSparseAutoencoder",
    "ZeroShotClassifier",
    "__version__",
    "load_audio_concepts",
]
