"""Microsoft CLAP through the ``msclap`` package's model classes.

The backend of the ``"msclap"`` family (see ``_clap_backends``): paper 1's
model, Microsoft CLAP 2023 (HTS-AT audio encoder, GPT-2 text encoder,
1024-d, 44.1 kHz, 7 s), and CLAP 2022 (Cnn14 + BERT-base-uncased, 5 s).

The model is built by msclap's own ``msclap.models.clap.CLAP`` with the
arguments of msclap's own ``configs/config_<version>.yml``, and its weights
are read here. msclap's ``CLAPWrapper`` is not used: its public methods read
files only, join the channels of a stereo file end to end, crop clips longer
than the model's duration at a random place (msclap issues #24, #37, #42),
load the weights with ``strict=False`` and tokenise with ``encode_plus``,
which transformers 5 removed. What it does to one mono clip and one text is
reproduced exactly:

* audio: a clip shorter than the model's duration is repeated and cut to
  ``duration * sampling_rate`` samples (``load_audio_into_tensor``), then
  ``clap.audio_encoder(batch)[0]``;
* text: for GPT-2, ``' <|endoftext|>'`` is appended and ``'!'`` (token 0) is
  the pad token; texts are padded to ``text_len`` tokens
  (``preprocess_text``), then ``clap.caption_encoder(tokens)``.

A few of msclap's habits need care:

* Importing msclap runs ``warnings.filterwarnings("ignore")`` and silences
  transformers' logging for the whole process; both are undone here.
* Its ``TextEncoder`` chooses how to pool by the *name* of the text model
  (``'gpt' in name``: the last non-pad token; otherwise the first token) and
  breaks on a name containing ``'clip'``. A local text-model folder is
  therefore passed as the hub name (``"gpt2"``) and resolved to the folder
  while the model is built, so the folder's name does not matter.
* The published files hold buffers that today's transformers no longer saves
  (GPT-2's ``attn.bias``/``attn.masked_bias``, BERT's
  ``embeddings.position_ids``): constants, not weights, and the only keys
  ignored by the strict check of the weights.
"""

import contextlib
import importlib.util
import re
import threading
import warnings
from pathlib import Path

import numpy as np

from ._clap_backends import (
    CheckpointError,
    ClapBackend,
    ModelSpec,
    ResolveName,
    check_state_dict_fits,
    check_text_folder,
    offline_hub,
    read_checkpoint,
    state_dict_of,
)
from ._clap_models import PUBLISHED_MODELS

# What each version of msclap is: its published row, and what its text
# encoder must be (transformers model_type).
_VERSIONS = {
    "2023": {"row": "msclap-2023", "text_type": "gpt2", "audio": "HTSAT"},
    "2022": {"row": "msclap-2022", "text_type": "bert", "audio": "Cnn14"},
}
# Keys of the published files that today's GPT-2/BERT no longer have: the
# causal-mask and masked-bias buffers of GPT-2 attention, BERT's position ids.
_LEGACY_KEYS = re.compile(
    r"caption_encoder\.base\.(h\.\d+\.attn\.(bias|masked_bias)|embeddings\.position_ids)"
)
_TEXT_KEYS = {
    "2023": "caption_encoder.base.wte.weight",  # GPT-2 token embedding
    "2022": "caption_encoder.base.embeddings.word_embeddings.weight",  # BERT
}
_AUDIO_PREFIXES = {
    "2023": "audio_encoder.base.htsat.",
    "2022": "audio_encoder.base.conv_block1.",
}
_AUDIO_PROJECTION = "audio_encoder.projection.linear1.weight"
_TEXT_PROJECTION = "caption_encoder.projection.linear1.weight"
# Building swaps msclap's AutoModel for a moment (see _text_model_as).
_BUILD_LOCK = threading.Lock()


# -- describing a checkpoint ---------------------------------------------------


def describe(path, *, enable_fusion=None, audio_model=None, state=None):
    """The :class:`ModelSpec` of a local msclap checkpoint, from its keys."""
    path = Path(path)
    if state is None:
        state = read_checkpoint(path)
    weights = state_dict_of(state)
    version = _version_of(weights, path)
    _check_options(enable_fusion, audio_model, f"The msclap checkpoint {path}")
    row = PUBLISHED_MODELS[_VERSIONS[version]["row"]]
    audio_out, audio_in = _shape(weights, _AUDIO_PROJECTION, path)
    text_out, text_in = _shape(weights, _TEXT_PROJECTION, path)
    if audio_out != text_out:
        raise CheckpointError(
            f"The msclap checkpoint {path} projects audio to {audio_out} and text to "
            f"{text_out} dimensions; a CLAP projects both to the same width. The "
            "file is not a CLAP checkpoint or was edited."
        )
    options = {
        "version": version,
        "audio_model": row.audio_architecture,
        "audio_width": audio_in,
        "text_width": text_in,
    }
    return ModelSpec(
        family="msclap",
        name=str(path),  # as for laion files; the published row is row.name
        sample_rate=row.sample_rate,
        clip_samples=row.clip_samples,
        embedding_dim=audio_out,
        fusion=False,
        audio_architecture=row.audio_architecture,
        location=str(path),
        options=tuple(sorted(options.items())),
    )


def _version_of(weights, path):
    """``"2023"`` or ``"2022"`` from the text and audio encoders' keys."""
    text = [v for v, key in _TEXT_KEYS.items() if key in weights]
    audio = [
        v
        for v, prefix in _AUDIO_PREFIXES.items()
        if any(key.startswith(prefix) for key in weights)
    ]
    if len(text) == 1 and text == audio:
        return text[0]
    found = (
        f"text encoder {'GPT-2' if text == ['2023'] else 'BERT' if text else 'unknown'}"
        f", audio encoder "
        f"{'HTSAT' if audio == ['2023'] else 'Cnn14' if audio else 'unknown'}"
    )
    raise CheckpointError(
        f"{path} is not a Microsoft CLAP (msclap) checkpoint of a known version: "
        "msclap 2023 has an HTSAT audio encoder (audio_encoder.base.htsat.*) and a "
        "GPT-2 text encoder (caption_encoder.base.wte.*), msclap 2022 a Cnn14 "
        "(audio_encoder.base.conv_block1.*) and a BERT "
        f"(caption_encoder.base.embeddings.*); this file has {found}. Pass "
        "CLAP_weights_2023.pth or CLAP_weights_2022.pth from "
        "https://huggingface.co/microsoft/msclap (clapcap_weights_2023.pth is the "
        "captioning model, not supported)."
    )


def _shape(weights, key, path):
    value = weights.get(key)
    if value is None or len(getattr(value, "shape", ())) != 2:
        raise CheckpointError(
            f"The msclap checkpoint {path} has no 2-D {key}: it is not a complete "
            "CLAP checkpoint (truncated or edited); download it again."
        )
    return tuple(int(n) for n in value.shape)


def _check_options(enable_fusion, audio_model, what):
    if enable_fusion:
        raise CheckpointError(
            f"{what} is a Microsoft CLAP model, which has no feature fusion; leave "
            "enable_fusion=None (or False)."
        )
    if audio_model is not None:
        raise CheckpointError(
            f"audio_model applies to laion-clap checkpoints only; {what} is a "
            "Microsoft CLAP model (its audio encoder is fixed by its version): "
            "leave it None."
        )


# -- loading -------------------------------------------------------------------


def load(spec, *, text_model=None, device="cpu"):
    """A :class:`MsclapBackend` with the weights of ``spec`` loaded, in eval mode."""
    import torch

    version = spec.option("version")
    if version not in _VERSIONS:
        raise CheckpointError(
            f"Unknown msclap version {version!r} for {spec.name!r}; msclap has "
            f"{sorted(_VERSIONS)}."
        )
    config = msclap_config(version)
    path = Path(spec.location) if spec.location else published_file(spec.published)
    weights = {
        key: value
        for key, value in state_dict_of(read_checkpoint(path)).items()
        if not _LEGACY_KEYS.fullmatch(key)
    }
    if _version_of(weights, path) != version:  # e.g. a cached file replaced
        raise CheckpointError(
            f"{path} is not a msclap {version} checkpoint ({spec.name!r}); download "
            "it again."
        )
    hub_name = config["text_model"]
    source = hub_name if text_model is None else str(check_text_model_dir(text_model))
    offline = offline_hub() if text_model is not None else contextlib.nullcontext()
    with offline:
        tokenizer, text_config = _text_side(source, hub_name, version)
        clap = _build(spec, config, source, hub_name, text_config)
    check_state_dict_fits(
        clap,
        weights,
        path=path,
        hint=(
            f"It is not a msclap {version} checkpoint of this shape (msclap's "
            f"config_{version}.yml, text model {source!r}), or it was truncated or "
            "edited; msclap itself would load it silently with random weights "
            "where it does not fit."
        ),
    )
    clap.eval()
    clap.to(device)
    return MsclapBackend(
        spec,
        clap=clap,
        tokenizer=tokenizer,
        text_len=int(config["text_len"]),
        gpt="gpt" in hub_name,
        device=torch.device(device),
    )


def clap_arguments(config, *, text_model, **overrides):
    """The arguments msclap's own loader passes to ``CLAP`` for ``config``.

    ``overrides`` (``out_emb``, ``transformer_embed_dim``, ``d_proj``) replace
    the config's widths, e.g. with those read off a checkpoint.
    """
    arguments = {
        "audioenc_name": config["audioenc_name"],
        "sample_rate": config["sampling_rate"],
        "window_size": config["window_size"],
        "hop_size": config["hop_size"],
        "mel_bins": config["mel_bins"],
        "fmin": config["fmin"],
        "fmax": config["fmax"],
        "classes_num": config["num_classes"],
        "out_emb": config["out_emb"],
        "text_model": text_model,
        "transformer_embed_dim": config["transformer_embed_dim"],
        "d_proj": config["d_proj"],
    }
    return {**arguments, **overrides}


def msclap_config(version):
    """msclap's own ``configs/config_<version>.yml`` as a dict (not imported)."""
    import yaml

    spec = importlib.util.find_spec("msclap")
    if spec is None:
        import_msclap()  # raises the install hint
    path = Path(spec.origin).parent / "configs" / f"config_{version}.yml"
    return yaml.safe_load(path.read_text())


def import_msclap():
    """msclap's ``models.clap`` module, imported without its side effects.

    Importing msclap turns every Python warning off for the process and sets
    transformers' logging to errors only; both are restored.
    """
    try:
        from transformers import logging as hf_logging
    except ImportError as exc:
        raise _install_hint(exc) from exc
    verbosity = hf_logging.get_verbosity()
    try:
        with warnings.catch_warnings():
            from msclap.models import clap
    except ImportError as exc:
        raise _install_hint(exc) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    return clap


def _install_hint(exc):
    return ImportError(
        "Microsoft CLAP models need the msclap package: pip install "
        f"'sklearn-audioconcepts[msclap]' (import failed: {exc})."
    )


def published_file(published):
    """The local path of a published msclap weight file: cache, else download."""
    if published is None or published.filename is None:
        raise CheckpointError(
            "A msclap model needs a checkpoint file or a published name."
        )
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(published.hub_repo, published.filename)
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    try:
        return Path(hf_hub_download(published.hub_repo, published.filename))
    except Exception as exc:  # noqa: BLE001 - offline, unreachable, disk full, ...
        raise FileNotFoundError(
            f"The weights of {published.name!r} ({published.filename}, about 690 MB "
            "for 2023) are not on this machine and could not be downloaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). Download "
            f"{published.url} where there is internet and pass its path: "
            f"CLAPEmbedder(checkpoint='/path/to/{published.filename}'); or put it in "
            f"the Hugging Face cache ({constants.HF_HUB_CACHE}), where msclap's own "
            "download also saves it."
        ) from None


def check_text_model_dir(text_model):
    """Raise unless ``text_model`` is a folder with a text model and its tokenizer."""
    return check_text_folder(
        text_model,
        holds="msclap's text encoder and its tokenizer, as written by "
        "save_pretrained (GPT-2 'gpt2' for msclap 2023, 'bert-base-uncased' for "
        "2022)",
        save_hint=_save_instructions("gpt2"),
    )


def _save_instructions(hub_name):
    return (
        "On a machine with internet run: from transformers import AutoModel, "
        f"AutoTokenizer; AutoModel.from_pretrained('{hub_name}').save_pretrained(d); "
        f"AutoTokenizer.from_pretrained('{hub_name}').save_pretrained(d); then copy "
        "the folder d here and pass text_model=d ('bert-base-uncased' for msclap "
        "2022)."
    )


def _text_side(source, hub_name, version):
    """The tokenizer and text-model config, checked before the model is built."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        text_config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise OSError(_missing_text_model_message(source, hub_name, exc)) from None
    expected = _VERSIONS[version]["text_type"]
    if text_config.model_type != expected:
        raise OSError(
            f"The text model {source!r} is a {text_config.model_type!r} model, but "
            f"msclap {version} was trained with {hub_name!r} ({expected}). "
            + _save_instructions(hub_name)
        )
    if "gpt" in hub_name:  # as msclap's CLAPWrapper.load_clap
        tokenizer.add_special_tokens({"pad_token": "!"})
    check_tokenizer(tokenizer, text_config, source=source, hub_name=hub_name)
    return tokenizer, text_config


def check_tokenizer(tokenizer, text_config, *, source, hub_name):
    """Fail when the tokenizer does not belong to the text model."""
    n_tokens = len(tokenizer)
    problem = None
    if n_tokens != text_config.vocab_size:
        problem = (
            f"the tokenizer has {n_tokens} tokens but the text model expects "
            f"{text_config.vocab_size}"
        )
    elif "gpt" in hub_name and tokenizer.pad_token_id != 0:
        # msclap pools GPT-2 at the last token that is not id 0 ('!').
        problem = (
            f"its pad token '!' is token {tokenizer.pad_token_id}, not 0 as in "
            "GPT-2's vocabulary (msclap finds the end of a text by it)"
        )
    if problem:
        raise OSError(
            f"The tokenizer in {source!r} does not fit the text model: {problem}; its "
            "vocabulary files (tokenizer.json, or vocab.json and merges.txt) are "
            f"missing or from another model. {_save_instructions(hub_name)}"
        )


def _missing_text_model_message(source, hub_name, exc):
    from huggingface_hub import constants

    where = (
        f"the folder {source}"
        if source != hub_name
        else f"the Hugging Face hub or its cache ({constants.HF_HUB_CACHE})"
    )
    return (
        f"msclap's text encoder '{hub_name}' and its tokenizer could not be loaded "
        f"from {where} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
        + _save_instructions(hub_name)
    )


@contextlib.contextmanager
def _text_model_as(module, hub_name, source):
    """msclap's ``AutoModel.from_pretrained(hub_name)`` loads ``source``."""
    if source == hub_name:
        yield
        return
    saved = module.AutoModel
    module.AutoModel = ResolveName(saved, hub_name, source)
    try:
        yield
    finally:
        module.AutoModel = saved


def _build(spec, config, source, hub_name, text_config):
    """msclap's ``CLAP`` with its config's arguments, random weights."""
    text_width = int(spec.option("text_width", config["transformer_embed_dim"]))
    hidden = getattr(text_config, "hidden_size", None)
    if hidden is not None and hidden != text_width:
        raise CheckpointError(
            f"The text model {source!r} has hidden size {hidden}, but the "
            f"checkpoint's text projection takes {text_width} inputs: they do not "
            f"belong together. {_save_instructions(hub_name)}"
        )
    module = import_msclap()
    with (
        _BUILD_LOCK,
        _text_model_as(module, hub_name, source),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message=".*torch.meshgrid")
        try:
            return module.CLAP(
                **clap_arguments(
                    config,
                    text_model=hub_name,
                    out_emb=int(spec.option("audio_width", config["out_emb"])),
                    transformer_embed_dim=text_width,
                    d_proj=int(spec.embedding_dim),
                )
            )
        except OSError as exc:
            raise OSError(_missing_text_model_message(source, hub_name, exc)) from None


# -- the loaded model ----------------------------------------------------------


class MsclapBackend(ClapBackend):
    """A loaded Microsoft CLAP: msclap's ``CLAP`` module and its tokenizer."""

    family = "msclap"

    def __init__(self, spec, *, clap, tokenizer, text_len, gpt, device):
        super().__init__(spec)
        self.clap = clap
        self.tokenizer = tokenizer
        self.text_len = text_len
        self.gpt = gpt
        self.device = device

    def embed_audio(self, waveforms, *, fusion=False):
        """msclap's audio embeddings of mono float32 waveforms at 44.1 kHz.

        Each waveform (at most :attr:`clip_samples` long) is repeat-padded to
        the model's duration as msclap's ``load_audio_into_tensor`` does.
        """
        import torch

        if fusion:
            raise ValueError(
                "Microsoft CLAP has no feature fusion: use long_clips='mean' or "
                "'crop' for clips longer than its 7 s (5 s for 2022)."
            )
        n = self.clip_samples
        batch = np.stack([repeat_pad(np.asarray(w, np.float32), n) for w in waveforms])
        with torch.inference_mode():
            embeddings = self.clap.audio_encoder(
                torch.from_numpy(batch).to(self.device)
            )
        return embeddings[0].float().cpu().numpy()

    def embed_text(self, texts):
        """msclap's text embeddings, tokenised as its ``preprocess_text``."""
        import torch

        tokens = self.tokenize(texts).to(self.device)
        with torch.inference_mode():
            embeddings = self.clap.caption_encoder(tokens)
        return embeddings.float().cpu().numpy()

    def tokenize(self, texts):
        """Tokens of ``texts`` as msclap's ``preprocess_text`` makes them.

        msclap pads each text to ``text_len`` tokens and does not truncate (a
        longer text keeps all its tokens). Texts are padded here to the
        longest of the batch when one is longer, which gives each text the
        embedding msclap gives it alone (padding is masked, and GPT-2 is
        causal); the text model's position limit truncates.
        """
        texts = [text + " <|endoftext|>" if self.gpt else text for text in texts]
        config = self.clap.caption_encoder.base.config
        limit = getattr(config, "n_positions", None) or config.max_position_embeddings
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
        length = max(self.text_len, min(max(lengths), limit))
        return self.tokenizer(
            texts,
            add_special_tokens=True,
            max_length=length,
            padding="max_length",
            truncation=True,
            return_tensors="pt",
        )


def repeat_pad(waveform, n_samples):
    """A clip repeated and cut to ``n_samples``, as msclap's loader does."""
    if len(waveform) > n_samples:
        raise ValueError(
            f"A window of {len(waveform)} samples is longer than the model's "
            f"{n_samples}; long clips are split before embedding."
        )
    if len(waveform) == 0:
        raise ValueError("An empty waveform cannot be embedded.")
    return np.tile(waveform, -(-n_samples // len(waveform)))[:n_samples]
