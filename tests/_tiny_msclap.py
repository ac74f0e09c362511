"""A random Microsoft CLAP (msclap 2023 layout), built offline through msclap's classes.

The real path is kept end to end: the model is ``msclap.models.clap.CLAP``
built with the arguments of msclap's own ``configs/config_2023.yml``; its
audio encoder is msclap's HTSAT at full size (msclap's ``HTSATWrapper``
ignores its arguments and always builds the HTS-AT of its ``config``
module, about 31M parameters: nothing smaller exists in the published
layout). Only the text encoder is shrunk: a one-layer GPT-2 (hidden width
768, as msclap's text projection expects) with a byte-level tokenizer of
GPT-2's own byte order (``'!'`` is token 0, as msclap's pooling assumes),
saved with ``save_pretrained`` so it loads from a folder and nothing is
downloaded. The weights are saved as msclap publishes them,
``torch.save({'model': state_dict}, 'CLAP_weights_2023.pth')``, including
the GPT-2 attention buffers that transformers of 2023 saved (``attn.bias``,
``attn.masked_bias``) and today's GPT-2 no longer has.
"""

import json
import os
import warnings
from pathlib import Path

from sklearn_audioconcepts._clap_msclap import clap_arguments, msclap_config

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT_DIR_NAME = "tiny-gpt2"  # msclap picks GPT-2 behaviour by "gpt" in the name
WEIGHTS_NAME = "CLAP_weights_2023.pth"
# A few merges, so that the tokenizer is a real BPE and not byte by byte.
_MERGES = [("Ġ", "a"), ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("o", "n"), ("Ġ", "s")]


def _gpt2_byte_alphabet():
    """GPT-2's byte -> unicode table, in GPT-2's own token order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_text_model(directory, *, seed=0, vocab_padding=0):
    """Save a one-layer GPT-2 and its byte-level BPE tokenizer to ``directory``.

    ``vocab_padding`` > 0 makes the model's vocabulary larger than the
    tokenizer's (a text model and tokenizer that do not belong together).
    """
    import torch
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokens = _gpt2_byte_alphabet() + ["".join(pair) for pair in _MERGES]
    tokens.append("<|endoftext|>")
    (directory / "vocab.json").write_text(
        json.dumps({token: index for index, token in enumerate(tokens)})
    )
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in _MERGES)
    )
    GPT2TokenizerFast(
        vocab_file=str(directory / "vocab.json"),
        merges_file=str(directory / "merges.txt"),
    ).save_pretrained(directory)

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokens) + vocab_padding,
        n_positions=128,  # msclap pads to 77 tokens; longer texts keep theirs
        n_embd=768,  # msclap's transformer_embed_dim
        n_layer=1,
        n_head=12,
        n_inner=128,
        bos_token_id=len(tokens) - 1,
        eos_token_id=len(tokens) - 1,
    )
    GPT2Model(config).save_pretrained(directory)
    return directory


def build_msclap_model(text_model, *, seed=0, d_proj=None):
    """A random ``msclap.models.clap.CLAP`` with msclap's 2023 arguments."""
    import torch

    with warnings.catch_warnings():  # msclap's import silences all warnings
        from msclap.models.clap import CLAP

        warnings.simplefilter("ignore")  # HTSAT's torch.meshgrid warning
        args = msclap_config("2023")
        torch.manual_seed(seed)
        widths = {} if d_proj is None else {"d_proj": d_proj}
        model = CLAP(**clap_arguments(args, text_model=str(text_model), **widths))
    return model.eval()


def published_state(model):
    """The model's weights as msclap's 2023 file holds them (legacy buffers too)."""
    import torch

    state = dict(model.state_dict())
    n_positions = model.caption_encoder.base.config.n_positions
    causal = torch.tril(torch.ones(n_positions, n_positions, dtype=torch.uint8))
    for index in range(len(model.caption_encoder.base.h)):
        prefix = f"caption_encoder.base.h.{index}.attn."
        state[prefix + "bias"] = causal.view(1, 1, n_positions, n_positions)
        state[prefix + "masked_bias"] = torch.tensor(-1e4)
    return state


def build_tiny_msclap(directory, *, seed=0):
    """Write the text model and ``CLAP_weights_2023.pth`` into ``directory``.

    Returns a dict with ``checkpoint`` and ``text_model`` (paths as str)
    and ``model``, the built ``CLAP`` (weights as saved), for comparisons.
    """
    import torch

    directory = Path(directory)
    text_model = write_text_model(directory / TEXT_DIR_NAME, seed=seed)
    model = build_msclap_model(text_model, seed=seed)
    checkpoint = directory / WEIGHTS_NAME
    torch.save({"model": published_state(model)}, checkpoint)
    return {
        "checkpoint": str(checkpoint),
        "text_model": str(text_model),
        "model": model,
    }
