"""A tiny random transformers CLAP, saved as the published LAION repositories are.

Built offline through transformers' own classes: a ``ClapModel`` from a small
``ClapConfig`` (a real HTS-AT audio encoder and RoBERTa text encoder, only
narrower and shallower than ``laion/clap-htsat-*``), a ``ClapFeatureExtractor``
with the published settings (48 kHz, 10 s, ``"rand_trunc"`` unfused or
``"fusion"`` fused) and a RoBERTa tokenizer over a byte-level vocabulary with
no merges, all written by ``save_pretrained`` into one folder: the layout of
``laion/clap-htsat-unfused`` and ``laion/clap-htsat-fused`` on the hub.
"""

import json
from pathlib import Path

_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]
PROJECTION_DIM = 24


def _write_tokenizer(directory):
    from tokenizers import pre_tokenizers
    from transformers import RobertaTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = _SPECIAL_TOKENS + alphabet + ["<mask>"]
    (directory / "vocab.json").write_text(
        json.dumps({token: index for index, token in enumerate(tokens)})
    )
    (directory / "merges.txt").write_text("#version: 0.2\n")
    # 77 tokens fit the 80 positions below (RoBERTa's positions start at 2).
    return RobertaTokenizer.from_pretrained(directory, model_max_length=77)


def build_tiny_hf_clap(directory, *, fusion=False, seed=0):
    """Save a random tiny ``ClapModel`` and its ``ClapProcessor`` to ``directory``."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _write_tokenizer(directory)
    extractor = ClapFeatureExtractor(
        sampling_rate=48_000,
        max_length_s=10,
        frequency_min=50,
        frequency_max=14_000,
        truncation="fusion" if fusion else "rand_trunc",
        padding="repeatpad",
    )
    config = ClapConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 80,
        },
        # HTS-AT keeps its 256 x 256 spectrogram image, 4 x 4 patches and 8 x 8
        # windows; two stages of one block, 8 then 16 channels.
        audio_config={
            "depths": [1, 1],
            "num_attention_heads": [1, 2],
            "patch_embeds_hidden_size": 8,
            "hidden_size": 16,
            "num_classes": 10,
            "enable_fusion": fusion,
        },
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(seed)
    model = ClapModel(config).eval()
    model.save_pretrained(directory)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(
        directory
    )
    return directory
