"""Interpretable audio embeddings as scikit-learn estimators.

Public estimators:

- :class:`CLAPEmbedder`: audio (files or waveforms) to CLAP embeddings of
  three families (LAION's laion-clap and Hugging Face checkpoints, Microsoft
  CLAP), and text to the same space with :meth:`CLAPEmbedder.embed_text`.
- :class:`MiniCLAP`: a small CLAP-style audio-text model trained from scratch
  on captioned audio (controlled experiments, small corpora).
- :class:`ConceptDecomposer`: dense embeddings -> sparse nonnegative weights
  over named text concepts (SpLiCE recipe applied to CLAP audio embeddings);
  :func:`concept_path` computes them for a sweep of sparsity penalties.
- :class:`ConceptVocabulary`: the names and embeddings of those concepts.
- :class:`FineTunedConceptProjector`: a linear projector trained on a task so
  that the concept weights serve it better, still over named concepts.
- :class:`ZeroShotClassifier`: classify embeddings (dense or concept
  reconstructions) against class prompts embedded by the text encoder.
- :class:`TopKSparseAutoencoder`: TopK sparse autoencoder whose latents turn
  speaker embeddings into sparse, often mono-semantic features.
- :class:`TitaNetEmbedder`, :class:`ResemblyzerEmbedder`: audio to speaker
  embeddings (NeMo TitaNet; the pretrained encoder shipped with resemblyzer).

Models are saved and loaded with :mod:`sklearn_audioconcepts.persistence`
(skops, no code run from the file). A file the package cannot read raises
:class:`FileReadError`, whose message names the file.
"""

import importlib

# Public names load their module on first use (PEP 562), so that
# ``import sklearn_audioconcepts`` -- and with it the command line's start-up,
# ``--help`` and ``--version`` -- does not import torch, laion-clap and
# scikit-learn first; a Ctrl-C then reaches the command line's handler.
_LAZY = {
    "CLAPEmbedder": "clap",
    "ConceptDecomposer": "decomposition",
    "ConceptVocabulary": "vocabulary",
    "FileReadError": "_files",
    "FineTunedConceptProjector": "projector",
    "MiniCLAP": "miniclap",
    "ResemblyzerEmbedder": "speaker",
    "TitaNetEmbedder": "speaker",
    "TopKSparseAutoencoder": "sae",
    "ZeroShotClassifier": "zero_shot",
    "concept_path": "decomposition",
    "load_audio_concepts": "data",
}

__version__ = "0.1.0.dev0"

__all__ = [
    "CLAPEmbedder",
    "ConceptDecomposer",
    "ConceptVocabulary",
    "FileReadError",
    "FineTunedConceptProjector",
    "MiniCLAP",
    "ResemblyzerEmbedder",
    "TitaNetEmbedder",
    "TopKSparseAutoencoder",
    "ZeroShotClassifier",
    "__version__",
    "concept_path",
    "load_audio_concepts",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
