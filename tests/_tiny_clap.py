"""A tiny random LAION-CLAP, built offline through laion-clap's own classes.

The real path is kept end to end: the audio architecture is a laion-clap
model-config JSON (registered by ``CLAPEmbedder(audio_model=<path>)``), the
text encoder is a RoBERTa saved with ``save_pretrained`` (tiny: one layer, a
byte-level vocabulary with no merges) together with its tokenizer, and the
weights are written in the layout of the published checkpoints (a
``state_dict`` whose keys start with ``module.``) and read back by
``CLAP_Module.load_ckpt``.

laion-clap's HTS-AT sizes are fixed by name ("tiny" is the smallest, about
28M parameters) and its PANN variants other than Cnn14 cannot take the input
dictionaries ``get_audio_embedding`` builds, so the audio branch is a real
HTSAT-tiny with random weights and a 10-class head; only the text model is
shrunk.
"""

import json
import os
from pathlib import Path

# laion-clap loads three tokenizers from the Hugging Face hub when imported;
# offline, each attempt otherwise retries for minutes.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

AUDIO_CONFIG_NAME = "sklearn-audioconcepts-test-HTSAT-tiny"

_AUDIO_CONFIG = {
    "embed_dim": 768,  # HTSAT-tiny's output width, fixed by its architecture
    "audio_cfg": {
        "audio_length": 1024,
        "clip_samples": 480000,
        "mel_bins": 64,
        "sample_rate": 48000,
        "window_size": 1024,
        "hop_size": 480,
        "fmin": 50,
        "fmax": 14000,
        "class_num": 10,
        "model_type": "HTSAT",
        "model_name": "tiny",
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 512,
        "heads": 8,
        "layers": 12,
    },
}

_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]


def write_audio_config(directory):
    """Write the tiny model's laion-clap config; its stem is the model name."""
    path = Path(directory) / f"{AUDIO_CONFIG_NAME}.json"
    path.write_text(json.dumps(_AUDIO_CONFIG, indent=2))
    return path


def write_text_model(directory, seed=0):
    """Save a one-layer RoBERTa and a byte-level tokenizer to ``directory``."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = _SPECIAL_TOKENS + alphabet + ["<mask>"]
    (directory / "vocab.json").write_text(
        json.dumps({token: index for index, token in enumerate(tokens)})
    )
    (directory / "merges.txt").write_text("#version: 0.2\n")
    # from_pretrained reads vocab.json + merges.txt in transformers 4 and 5 alike.
    RobertaTokenizer.from_pretrained(directory).save_pretrained(directory)

    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(tokens),
        hidden_size=768,  # laion-clap's text projection expects 768 inputs
        num_hidden_layers=1,
        num_attention_heads=12,
        intermediate_size=128,
        max_position_embeddings=80,  # 77 tokens + RoBERTa's padding offset
    )
    RobertaModel(config).save_pretrained(directory)
    return directory


def write_checkpoint(path, *, audio_config, text_model, enable_fusion=False, seed=0):
    """Build a random CLAP with laion-clap's classes and save it like LAION does."""
    import torch

    from sklearn_audioconcepts._clap import build_clap_module

    torch.manual_seed(seed)
    module = build_clap_module(
        audio_model=str(audio_config),
        enable_fusion=enable_fusion,
        text_model=text_model,
        device="cpu",
    )
    state = {f"module.{key}": value for key, value in module.model.state_dict().items()}
    # Published checkpoints carry this buffer and laion-clap's loader deletes it
    # (it is no longer a saved buffer in recent transformers).
    positions = module.model.text_branch.embeddings.position_ids
    state["module.text_branch.embeddings.position_ids"] = positions.clone()
    torch.save({"epoch": 0, "state_dict": state}, path)
    return Path(path)


def build_tiny_clap(directory, *, fusion=False):
    """Write config, text model and checkpoint(s) into ``directory``.

    Returns a dict with ``audio_model``, ``text_model``, ``checkpoint`` and,
    when ``fusion``, ``fusion_checkpoint``.
    """
    directory = Path(directory)
    audio_config = write_audio_config(directory)
    text_model = write_text_model(directory / "text")
    paths = {
        "audio_model": str(audio_config),
        "text_model": str(text_model),
        "checkpoint": str(
            write_checkpoint(
                directory / "tiny-clap.pt",
                audio_config=audio_config,
                text_model=text_model,
            )
        ),
    }
    if fusion:
        paths["fusion_checkpoint"] = str(
            write_checkpoint(
                directory / "tiny-clap-fusion.pt",
                audio_config=audio_config,
                text_model=text_model,
                enable_fusion=True,
                seed=1,
            )
        )
    return paths
