"""CLAP through Hugging Face transformers: ``ClapModel`` + ``ClapProcessor``.

A transformers CLAP is a folder written by ``ClapModel.save_pretrained`` and
``ClapProcessor.save_pretrained`` (``config.json``, the weights,
``preprocessor_config.json`` and the tokenizer files), or a hub repository
holding one (``laion/clap-htsat-unfused``, ``laion/larger_clap_general``,
...), found in the Hugging Face cache or downloaded when the machine is
online. The model and processor are always built by transformers itself and
called as its documentation shows::

    inputs = processor(audio=waveforms, sampling_rate=48_000, return_tensors="pt")
    model.get_audio_features(**inputs)
    model.get_text_features(**processor.tokenizer(texts, padding=True, ...))

Two things are done on top, so that embeddings are reproducible:

* ``ClapFeatureExtractor`` with ``truncation="fusion"`` marks one clip of a
  batch, drawn at random, as "longer than 10 s" when none is. That is a
  training rule of laion-clap (its HTS-AT applies it only in training mode);
  here ``is_longer`` is set from each clip's own length, as laion-clap does at
  inference, so a clip's embedding does not depend on its batch.
* Windows are at most 10 s, which the feature extractor never crops. Only
  whole clips under ``long_clips="fusion"`` (fused models) get its random
  crops, drawn from numpy's global RNG, which the caller seeds.

Weights that do not fit the configuration are refused: transformers would
otherwise initialise the missing ones at random with a warning.
"""

import contextlib
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from ._clap_backends import CheckpointError, ClapBackend, ModelSpec

__all__ = ["HFClapBackend", "describe", "describe_hub_id", "load"]

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
# Buffers computed from the configuration, absent from some saved folders
# (persistent in some transformers versions, not in others).
_DERIVED_BUFFERS = (
    "position_ids",
    "token_type_ids",
    "relative_position_index",
    "num_batches_tracked",
)
# What a hub download fetches: configs, tokenizer, weights (safetensors first).
_HUB_PATTERNS = ["*.json", "*.txt", "*.safetensors"]
_HUB_FALLBACK_PATTERNS = ["pytorch_model*.bin"]


def _save_hint(name="<hub id>"):
    return (
        "On a machine with internet, run: from transformers import ClapModel, "
        f"ClapProcessor; ClapModel.from_pretrained({name!r}).save_pretrained(d); "
        f"ClapProcessor.from_pretrained({name!r}).save_pretrained(d); then copy "
        "the folder d here and pass checkpoint=d."
    )


# -- describing a folder or a hub id -------------------------------------------


def describe(path, *, enable_fusion=None, audio_model=None, state=None, name=None):
    """The :class:`ModelSpec` of a folder written by ``save_pretrained``.

    Reads ``config.json`` and ``preprocessor_config.json`` and checks that the
    weights and tokenizer files are there; builds nothing. ``name`` is the hub
    id when the folder is a hub snapshot (default: the folder's path).
    """
    folder = Path(os.fspath(path)).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The transformers CLAP folder {folder} does not exist. " + _save_hint()
        )
    config = _read_json(folder, "config.json", "ClapModel.save_pretrained(d)")
    if config.get("model_type") != "clap":
        raise CheckpointError(
            f"{folder} holds a {config.get('model_type')!r} model, not a CLAP "
            "(config.json must say model_type 'clap', as written by "
            "ClapModel.save_pretrained). " + _save_hint()
        )
    if not any((folder / weights).is_file() for weights in _WEIGHT_FILES):
        raise FileNotFoundError(
            f"The transformers CLAP folder {folder} has no weights (expected "
            f"{' or '.join(_WEIGHT_FILES[::2])}). " + _save_hint()
        )
    preprocessor = _feature_extractor_config(folder)
    if not any((folder / file).is_file() for file in _TOKENIZER_FILES):
        raise FileNotFoundError(
            f"The transformers CLAP folder {folder} has no tokenizer (expected "
            f"{' or '.join(_TOKENIZER_FILES)}, written by "
            "ClapProcessor.save_pretrained(d)). " + _save_hint()
        )
    if audio_model is not None:
        raise CheckpointError(
            "audio_model applies to laion-clap checkpoints only; the transformers "
            f"CLAP {folder} has its architecture in config.json: leave it None."
        )

    audio = config.get("audio_config") or {}
    fused = bool(audio.get("enable_fusion", False))
    if enable_fusion is not None and bool(enable_fusion) != fused:
        raise CheckpointError(
            f"The transformers CLAP {folder} was trained "
            f"{'with' if fused else 'without'} feature fusion (audio_config."
            f"enable_fusion in config.json); leave enable_fusion=None or set it "
            f"to {fused}."
        )
    truncation = preprocessor.get("truncation", "fusion")
    if (truncation == "fusion") != fused:
        raise CheckpointError(
            f"The feature extractor of {folder} (preprocessor_config.json, or "
            f"processor_config.json) says truncation={truncation!r} but the "
            "model was trained "
            f"{'with' if fused else 'without'} feature fusion: a fused model needs "
            "'fusion', an unfused one 'rand_trunc'. Save the processor of the same "
            "model again (ClapProcessor.save_pretrained)."
        )
    sample_rate = int(preprocessor.get("sampling_rate", 48_000))
    clip_samples = preprocessor.get("nb_max_samples")
    if clip_samples is None:
        clip_samples = round(float(preprocessor.get("max_length_s", 10)) * sample_rate)
    width = config.get("projection_dim", audio.get("projection_dim"))
    if width is None:
        raise CheckpointError(f"{folder / 'config.json'} has no projection_dim.")
    return ModelSpec(
        family="hf",
        name=str(name) if name is not None else str(folder.resolve()),
        sample_rate=sample_rate,
        clip_samples=int(clip_samples),
        embedding_dim=int(width),
        fusion=fused,
        audio_architecture=_architecture(audio),
        location=str(folder),
        options=(("truncation", truncation),),
    )


def _feature_extractor_config(folder):
    """The feature extractor's settings: transformers 4 writes them to
    ``preprocessor_config.json``, transformers 5 into ``processor_config.json``."""
    if not (folder / "preprocessor_config.json").is_file():
        combined = folder / "processor_config.json"
        if combined.is_file():
            nested = _read_json(folder, combined.name, "")
            if isinstance(nested.get("feature_extractor"), dict):
                return nested["feature_extractor"]
    return _read_json(
        folder,
        "preprocessor_config.json",
        "ClapProcessor.save_pretrained(d); transformers 5 writes "
        "processor_config.json instead",
    )


def _read_json(folder, filename, writer):
    path = folder / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"The transformers CLAP folder {folder} has no {filename} (written by "
            f"{writer}). " + _save_hint()
        )
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Could not read {path}: {exc}.") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} is not a JSON object.")
    return value


def _architecture(audio):
    """``HTSAT-tiny`` / ``HTSAT-base`` as laion-clap names them, else the sizes."""
    depths = list(audio.get("depths", [2, 2, 6, 2]))
    width = audio.get("patch_embeds_hidden_size", 96)
    if depths == [2, 2, 6, 2] and width == 96:
        return "HTSAT-tiny"
    if depths == [2, 2, 12, 2] and width == 128:
        return "HTSAT-base"
    return f"HTSAT(depths={depths}, width={width})"


def describe_hub_id(name, *, enable_fusion=None):
    """The :class:`ModelSpec` of a hub repository, from the cache or downloaded.

    Offline (``HF_HUB_OFFLINE=1``, or the hub unreachable) a repository not in
    the Hugging Face cache is an error saying what to download and where.
    """
    folder = _hub_folder(str(name))
    return describe(folder, enable_fusion=enable_fusion, name=str(name))


def _hub_folder(repo_id):
    from huggingface_hub import constants, snapshot_download

    url = f"https://huggingface.co/{repo_id}"
    try:
        folder = Path(snapshot_download(repo_id, local_files_only=True))
        if _complete(folder):
            return folder
    except Exception:  # noqa: BLE001 - not in the cache (or a partial snapshot)
        pass
    offline = bool(getattr(constants, "HF_HUB_OFFLINE", False))
    reason = "HF_HUB_OFFLINE is set"
    if not offline:
        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS))
            if not any((folder / weights).is_file() for weights in _WEIGHT_FILES):
                folder = Path(
                    snapshot_download(
                        repo_id,
                        allow_patterns=_HUB_PATTERNS + _HUB_FALLBACK_PATTERNS,
                    )
                )
            return folder
        except Exception as exc:  # noqa: BLE001 - offline, no such repo, disk full
            if isinstance(exc, MemoryError):
                raise
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    raise FileNotFoundError(
        f"The transformers CLAP {repo_id!r} is not in the Hugging Face cache "
        f"({constants.HF_HUB_CACHE}) and could not be downloaded ({reason}). "
        f"It is published at {url}. "
        + _save_hint(repo_id)
        + " Or copy the cache folder 'models--"
        + repo_id.replace("/", "--")
        + "' from a machine that has it into the cache above."
    )


def _complete(folder):
    """A cached snapshot with config, preprocessor, tokenizer and weights."""
    return (
        (folder / "config.json").is_file()
        and any(
            (folder / file).is_file()
            for file in ("preprocessor_config.json", "processor_config.json")
        )
        and any((folder / file).is_file() for file in _TOKENIZER_FILES)
        and any((folder / file).is_file() for file in _WEIGHT_FILES)
    )


# -- loading -------------------------------------------------------------------


def load(spec, *, text_model=None, device="cpu"):
    """A :class:`HFClapBackend` with the weights of ``spec``, in eval mode."""
    if text_model is not None:
        raise CheckpointError(
            "text_model applies to laion-clap checkpoints only; a transformers "
            f"CLAP ({spec.name}) has its tokenizer and text encoder in its own "
            "folder: leave text_model=None."
        )
    if spec.location is None:  # a published name: find or fetch its folder
        repo_id = getattr(spec.published, "hub_repo", None) or spec.name
        local = describe_hub_id(repo_id, enable_fusion=spec.fusion)
        _check_published(spec, local)
        spec = dataclasses.replace(spec, location=local.location)
    folder = Path(spec.location)
    model = _load_model(folder)
    processor = _load_processor(folder)
    _check_tokenizer(processor.tokenizer, model.config, folder)
    return HFClapBackend(spec, model.to(device).eval(), processor, device)


def _check_published(published, local):
    for field in ("fusion", "embedding_dim", "sample_rate", "clip_samples"):
        if getattr(published, field) != getattr(local, field):
            raise CheckpointError(
                f"The folder found for {published.name!r} ({local.location}) has "
                f"{field}={getattr(local, field)!r}, but the published model has "
                f"{getattr(published, field)!r}; it is not that model. Delete it "
                "from the Hugging Face cache and download it again."
            )


def _load_model(folder):
    import torch
    from transformers import ClapModel

    try:
        with _quiet_transformers():
            # use_kernels=False: transformers 5 would otherwise swap layers for
            # kernels fetched from the hub (nothing is fetched at run time here,
            # and the numbers must not depend on what is installed).
            model, info = ClapModel.from_pretrained(
                folder,
                output_loading_info=True,
                ignore_mismatched_sizes=True,  # reported below, with the shapes
                dtype=torch.float32,
                use_kernels=False,
            )
    except Exception as exc:  # noqa: BLE001 - every reason becomes one clear error
        if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
            raise
        detail = str(exc).splitlines()[0][:400] if str(exc) else ""
        raise CheckpointError(
            f"Could not load the transformers CLAP in {folder}: "
            f"{type(exc).__name__}: {detail}. The weights are truncated or not "
            "those of a ClapModel; save or download them again."
        ) from None
    _check_loading_info(info, folder, model.config)
    return model


def _check_loading_info(info, folder, config):
    """Refuse weights missing, unexpected or of the wrong shape for the config."""
    problems, missing = [], []
    for label in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        keys = sorted(
            _describe_key(key)
            for key in info.get(label, ())
            if not _describe_key(key).split(" ")[0].endswith(_DERIVED_BUFFERS)
        )
        if label == "missing_keys":
            missing = keys
        if keys:
            shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
            problems.append(f"{len(keys)} {label.replace('_', ' ')} ({shown})")
    if not problems:
        return
    hint = ""
    fused = bool(getattr(config.audio_config, "enable_fusion", False))
    if fused and any("fusion_model" in key or "mel_conv2d" in key for key in missing):
        hint = (
            " config.json says audio_config.enable_fusion=true but the weights "
            "are those of a model trained without fusion."
        )
    raise CheckpointError(
        f"The weights in {folder} do not fit its config.json: "
        + "; ".join(problems)
        + f".{hint} transformers would leave those weights random; save the model "
        "again with ClapModel.save_pretrained, or download it again."
    )


def _describe_key(key):
    """A key name, or ``name (saved shape != model shape)`` for a mismatch."""
    if isinstance(key, str):
        return key
    key = tuple(key)
    if len(key) == 3:
        return f"{key[0]} {tuple(key[1])} != {tuple(key[2])}"
    return str(key[0])


def _load_processor(folder):
    from transformers import ClapProcessor

    try:
        with _quiet_transformers():
            return ClapProcessor.from_pretrained(folder)
    except Exception as exc:  # noqa: BLE001
        if isinstance(exc, MemoryError):
            raise
        raise CheckpointError(
            f"Could not load the ClapProcessor in {folder}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:300] if str(exc) else ''}. " + _save_hint()
        ) from None


def _check_tokenizer(tokenizer, config, folder):
    """Refuse a tokenizer whose ids the text model cannot embed, or an empty one."""
    n_tokens = len(tokenizer)
    vocab_size = config.text_config.vocab_size
    n_special = len(set(tokenizer.all_special_tokens))
    if n_tokens > vocab_size or n_tokens <= n_special:
        raise CheckpointError(
            f"The tokenizer in {folder} has {n_tokens} tokens but the text model "
            f"embeds {vocab_size}: its vocabulary files do not belong to this "
            "model (or are missing). " + _save_hint()
        )


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' own warnings (e.g. newly initialised weights) are ours to
    raise, and its progress bar over the weights (transformers 5) is noise."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bars:
            logging.enable_progress_bar()


# -- the backend ---------------------------------------------------------------


class HFClapBackend(ClapBackend):
    """A transformers ``ClapModel`` and its ``ClapProcessor``, in eval mode."""

    family = "hf"

    def __init__(self, spec, model, processor, device):
        super().__init__(spec)
        self.model = model
        self.processor = processor
        self.device = device

    def audio_inputs(self, waveforms):
        """The processor's inputs for mono float32 waveforms at :attr:`sample_rate`.

        ``is_longer`` is each clip's own (see the module docstring): the
        feature extractor's random pick for batches of short clips is undone.
        """
        waveforms = [np.asarray(w, dtype=np.float32) for w in waveforms]
        inputs = self.processor(
            audio=waveforms, sampling_rate=self.sample_rate, return_tensors="pt"
        )
        if self.spec.fusion:
            import torch

            extractor = self.processor.feature_extractor
            hop, limit = extractor.hop_length, extractor.nb_max_samples
            # The extractor's own rule: longer than 10 s and not in the corner
            # case where the spectrogram has no frame more than a 10 s one.
            longer = [
                len(w) > limit and len(w) // hop != limit // hop for w in waveforms
            ]
            inputs["is_longer"] = torch.tensor(longer, dtype=torch.bool)[:, None]
        return inputs

    def embed_audio(self, waveforms, *, fusion=False):
        import torch

        waveforms = list(waveforms)
        if not waveforms:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        if fusion and not self.spec.fusion:
            raise ValueError(
                f"{self.spec.name} was trained without feature fusion; long clips "
                "can only be embedded in windows ('mean' or 'crop')."
            )
        if not fusion:
            longest = max(len(w) for w in waveforms)
            if longest > self.clip_samples:
                raise ValueError(
                    f"A window of {longest} samples is longer than the model's "
                    f"{self.clip_samples}: the feature extractor would crop it at "
                    "random. Cut clips into windows first."
                )
        inputs = self.audio_inputs(waveforms)
        with torch.inference_mode():
            features = self.model.get_audio_features(**_to(inputs, self.device))
        return _as_array(features)

    def embed_text(self, texts):
        import torch

        tokens = self.processor.tokenizer(
            list(texts), padding=True, truncation=True, return_tensors="pt"
        )
        with torch.inference_mode():
            features = self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device),
                attention_mask=tokens["attention_mask"].to(self.device),
            )
        return _as_array(features)


def _to(inputs, device):
    return {key: value.to(device) for key, value in inputs.items()}


def _as_array(features):
    """transformers 4 returns a tensor; 5 an output whose ``pooler_output`` it is."""
    if not hasattr(features, "detach"):
        features = features.pooler_output
    return features.detach().float().cpu().numpy()
