"""LAION-CLAP through the ``laion-clap`` package: loading, offline rules, batching.

Nothing here knows about scikit-learn; :class:`~sklearn_audioconcepts.CLAPEmbedder`
is the thin estimator around it. The model is always built by laion-clap's
own ``CLAP_Module`` and its weights read by ``CLAP_Module.load_ckpt``.

Two things of laion-clap's need care:

* It loads its RoBERTa text encoder and tokenizer as ``"roberta-base"`` from
  the Hugging Face hub, with no way to pass a directory. A local directory is
  honoured by resolving that one name to it while the model is built.
* With transformers 5, a tokenizer whose files are missing loads as an empty
  vocabulary of special tokens without an error; every text would then embed
  the same. The tokenizer is therefore checked against the text model.
"""

import collections
import contextlib
import importlib.util
import io
import os
import sys
import threading
from pathlib import Path

import numpy as np

SAMPLE_RATE = 48_000
CLIP_SAMPLES = 480_000  # laion-clap's 10 s input
EMBEDDING_DIM = 512
TEXT_MODEL_NAME = "roberta-base"
HUB_REPO = "lukewys/laion_clap"
HUB_URL = f"https://huggingface.co/{HUB_REPO}/resolve/main/"

# Published checkpoints: name -> (enable_fusion, audio_model).
KNOWN_CHECKPOINTS = {
    "630k-best": (False, "HTSAT-tiny"),
    "630k-audioset-best": (False, "HTSAT-tiny"),
    "630k-fusion-best": (True, "HTSAT-tiny"),
    "630k-audioset-fusion-best": (True, "HTSAT-tiny"),
    "music_audioset_epoch_15_esc_90.14": (False, "HTSAT-base"),
    "music_speech_epoch_15_esc_89.25": (False, "HTSAT-base"),
    "music_speech_audioset_epoch_15_esc_89.98": (False, "HTSAT-base"),
}

_TEXT_MODEL_FILES = {
    "config": ("config.json",),
    "weights": ("model.safetensors", "pytorch_model.bin"),
    "tokenizer": ("tokenizer.json", "vocab.json"),
}

# Building a model swaps module attributes of laion-clap for a moment.
_BUILD_LOCK = threading.Lock()


class CheckpointError(ValueError):
    """A CLAP checkpoint that is missing, unreadable or does not fit the model."""


def import_laion_clap():
    """Import laion-clap, or say how to install it."""
    try:
        import laion_clap
    except ImportError as exc:
        raise ImportError(
            "CLAPEmbedder needs the laion-clap package: pip install "
            f"'sklearn-audioconcepts[clap]' (import failed: {exc})."
        ) from exc
    return laion_clap


def _laion_modules():
    """laion-clap's hook and its model module, as laion-clap itself imports them.

    laion-clap puts its own folder on ``sys.path`` and imports ``clap_module``
    as a top-level package, so ``laion_clap.clap_module`` is a second copy:
    patching or registering must go through the copy the hook uses.
    """
    import_laion_clap()
    from laion_clap import hook

    factory = sys.modules[hook.create_model.__module__]
    model = sys.modules[factory.CLAP.__module__]
    return hook, factory, model


def check_text_model_dir(text_model):
    """Raise unless ``text_model`` is a directory with a RoBERTa and its tokenizer."""
    directory = Path(os.fspath(text_model))
    if not directory.is_dir():
        raise FileNotFoundError(
            f"text_model={str(text_model)!r} is not a directory. It must hold the "
            f"'{TEXT_MODEL_NAME}' text encoder and tokenizer as written by "
            "RobertaModel.save_pretrained and RobertaTokenizer.save_pretrained."
        )
    for kind, names in _TEXT_MODEL_FILES.items():
        if not any((directory / name).is_file() for name in names):
            raise FileNotFoundError(
                f"The text model directory {directory} has no {kind} file (expected "
                f"{' or '.join(names)}). On a machine with internet, run "
                f"RobertaModel.from_pretrained('{TEXT_MODEL_NAME}').save_pretrained(d) "
                f"and RobertaTokenizer.from_pretrained('{TEXT_MODEL_NAME}')"
                ".save_pretrained(d), then copy d here and pass text_model=d."
            )
    return directory


@contextlib.contextmanager
def _offline_hub():
    """Make the Hugging Face hub fail fast instead of retrying for minutes."""
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - transformers depends on it
        yield
        return
    previous_env = os.environ.get("HF_HUB_OFFLINE")
    previous = getattr(constants, "HF_HUB_OFFLINE", None)
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
        if previous_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_env


class _ResolveName:
    """Stand-in for a transformers class whose ``from_pretrained`` maps one name."""

    def __init__(self, cls, name, target):
        self._cls, self._name, self._target = cls, name, target

    def from_pretrained(self, name, *args, **kwargs):
        if name == self._name:
            name = self._target
        return self._cls.from_pretrained(name, *args, **kwargs)

    def __getattr__(self, attribute):
        return getattr(self._cls, attribute)


@contextlib.contextmanager
def _text_model_from(text_model):
    """Resolve laion-clap's ``"roberta-base"`` to ``text_model`` while building."""
    if text_model is None:
        yield
        return
    directory = str(check_text_model_dir(text_model))
    hook, _, model = _laion_modules()
    saved = (hook.RobertaTokenizer, model.RobertaModel)
    hook.RobertaTokenizer = _ResolveName(saved[0], TEXT_MODEL_NAME, directory)
    model.RobertaModel = _ResolveName(saved[1], TEXT_MODEL_NAME, directory)
    try:
        yield
    finally:
        hook.RobertaTokenizer, model.RobertaModel = saved


def register_audio_model(audio_model):
    """Model-config name for laion-clap; a JSON path is registered first."""
    _, factory, _ = _laion_modules()
    path = Path(os.fspath(audio_model))
    if path.suffix == ".json":
        if not path.is_file():
            raise FileNotFoundError(f"No laion-clap model config at {path}.")
        if path.stem not in factory.list_models():
            factory.add_model_config(path)
        if path.stem not in factory.list_models():
            raise ValueError(
                f"{path} is not a laion-clap model config (it needs embed_dim, "
                "audio_cfg and text_cfg)."
            )
        return path.stem
    if str(audio_model) not in factory.list_models():
        raise ValueError(
            f"Unknown audio_model {audio_model!r}; laion-clap knows "
            f"{factory.list_models()}, or pass the path of a model-config JSON."
        )
    return str(audio_model)


def build_clap_module(*, audio_model, enable_fusion, text_model, device):
    """A randomly initialised ``CLAP_Module`` (weights are loaded separately)."""
    if enable_fusion and importlib.util.find_spec("torchaudio") is None:
        # laion-clap computes the fusion mel spectrograms with torchaudio but
        # imports it optionally, failing later with an AttributeError.
        raise ImportError(
            "enable_fusion=True needs torchaudio (laion-clap computes the fusion "
            "spectrograms with it): pip install torchaudio, or use a non-fusion "
            "checkpoint."
        )
    # A local text model means "offline": laion-clap's import-time tokenizer
    # loads then fail at once instead of retrying the hub for minutes.
    offline = _offline_hub() if text_model is not None else contextlib.nullcontext()
    with _BUILD_LOCK, offline:
        hook, _, _ = _laion_modules()
        name = register_audio_model(audio_model)
        with _text_model_from(text_model), _quiet():
            try:
                module = hook.CLAP_Module(
                    enable_fusion=enable_fusion, device=device, amodel=name
                )
            except OSError as exc:
                raise OSError(_missing_text_model_message(exc)) from exc
    check_tokenizer(module)
    return module


def _missing_text_model_message(exc):
    from huggingface_hub import constants

    return (
        f"laion-clap could not load its text encoder '{TEXT_MODEL_NAME}' from the "
        f"Hugging Face hub or its cache ({constants.HF_HUB_CACHE}): {exc}. Offline, "
        f"either copy the cache folder 'models--{TEXT_MODEL_NAME}' from a machine "
        "that has it into that cache (and set HF_HUB_OFFLINE=1), or save the model "
        "and tokenizer to a directory with save_pretrained and pass text_model=<dir>."
    )


def check_tokenizer(module):
    """Fail when the tokenizer's vocabulary does not fit the text model's."""
    text_branch = getattr(module.model, "text_branch", None)
    config = getattr(text_branch, "config", None)
    if config is None:
        return
    n_tokens = len(module.tokenize)
    if n_tokens != config.vocab_size:
        raise OSError(
            f"The RoBERTa tokenizer has {n_tokens} tokens but the text model expects "
            f"{config.vocab_size}: its vocabulary files (vocab.json and merges.txt, "
            "or tokenizer.json) were not found, so every text would be embedded as "
            "unknown tokens. " + _missing_text_model_message("tokenizer files missing")
        )


def resolve_checkpoint(checkpoint, *, enable_fusion, audio_model):
    """Local path of ``checkpoint``: a file, or a published name fetched if needed."""
    name = str(checkpoint)
    stem = name[:-3] if name.endswith(".pt") else name
    if stem in KNOWN_CHECKPOINTS and not Path(name).is_file():
        fusion, architecture = KNOWN_CHECKPOINTS[stem]
        if fusion != bool(enable_fusion):
            raise CheckpointError(
                f"Checkpoint {stem!r} was trained {'with' if fusion else 'without'} "
                f"feature fusion; set enable_fusion={fusion}."
            )
        if str(audio_model) != architecture:
            raise CheckpointError(
                f"Checkpoint {stem!r} is a {architecture} model; set "
                f"audio_model={architecture!r}."
            )
        return _download_known(stem + ".pt")
    path = Path(os.fspath(checkpoint)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"CLAP checkpoint not found: '{path}'. Give the path of a laion-clap "
            "checkpoint (.pt) or one of the published names "
            f"{sorted(KNOWN_CHECKPOINTS)}."
        )
    return path


def _download_known(filename):
    """Find a published checkpoint in the caches, or download it when online."""
    # find_spec, not an import: only laion-clap's folder is needed here.
    spec = importlib.util.find_spec("laion_clap")
    if spec is None:
        import_laion_clap()  # raises the install hint
    laion_dir = Path(spec.origin).parent
    if (laion_dir / filename).is_file():  # where laion-clap's own loader saves it
        return laion_dir / filename
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(HUB_REPO, filename))
    except Exception as exc:  # offline, hub unreachable, disk full, ...
        raise FileNotFoundError(
            f"CLAP checkpoint {filename!r} is not on this machine and could not be "
            f"downloaded ({type(exc).__name__}: {exc}). Download {HUB_URL}{filename} "
            f"where there is internet and pass its path as checkpoint=, or put it in "
            f"{laion_dir}."
        ) from None


def load_clap_module(
    checkpoint, *, audio_model, enable_fusion, text_model=None, device="cpu"
):
    """Build laion-clap's ``CLAP_Module`` and load ``checkpoint`` into it."""
    import torch

    path = resolve_checkpoint(
        checkpoint, enable_fusion=enable_fusion, audio_model=audio_model
    )
    module = build_clap_module(
        audio_model=audio_model,
        enable_fusion=enable_fusion,
        text_model=text_model,
        device=device,
    )
    try:
        with _quiet():
            module.load_ckpt(str(path), verbose=False)
    except Exception as exc:
        if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
            raise
        raise CheckpointError(
            _load_error_message(path, exc, enable_fusion, audio_model)
        ) from None
    module.eval()
    return module


_MODEL_CACHE = collections.OrderedDict()
_MODEL_CACHE_SIZE = 2
_CACHE_LOCK = threading.Lock()


def cached_clap_module(checkpoint, *, audio_model, enable_fusion, text_model, device):
    """:func:`load_clap_module`, shared by estimators with the same model.

    Clones made by ``GridSearchCV`` or ``cross_validate`` then reuse one
    loaded model instead of reading the checkpoint once per fit. The two most
    recent models are kept; a checkpoint file that changed on disk (size or
    modification time) is read again.
    """
    key = (
        _file_identity(checkpoint),
        bool(enable_fusion),
        os.fspath(audio_model),
        None if text_model is None else os.fspath(text_model),
        str(device),
    )
    with _CACHE_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    module = load_clap_module(
        checkpoint,
        audio_model=audio_model,
        enable_fusion=enable_fusion,
        text_model=text_model,
        device=device,
    )
    with _CACHE_LOCK:
        _MODEL_CACHE[key] = module
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return module


def _file_identity(checkpoint):
    path = Path(os.fspath(checkpoint)).expanduser()
    if path.is_file():
        stat = path.stat()
        return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return (os.fspath(checkpoint),)  # a published name


def _load_error_message(path, exc, enable_fusion, audio_model):
    detail = str(exc)
    if "Error(s) in loading state_dict" in detail:  # read, but does not fit
        return _mismatch_message(path, detail, enable_fusion, audio_model)
    if isinstance(exc, (KeyError, StopIteration)):
        return f"{path} is not a LAION-CLAP checkpoint (it has no {exc} entry)."
    return (
        f"Could not read the CLAP checkpoint {path}: {type(exc).__name__}: {exc}. "
        "The file is truncated or not a PyTorch checkpoint; download it again."
    )


def _mismatch_message(path, detail, enable_fusion, audio_model):
    if "fusion" in detail:
        has_fusion = (
            "Unexpected key" in detail and "fusion" in detail.split("Unexpected key")[1]
        )
        hint = (
            "the checkpoint was trained with feature fusion: set enable_fusion=True"
            if has_fusion or not enable_fusion
            else "the checkpoint was trained without feature fusion: set "
            "enable_fusion=False"
        )
    else:
        hint = (
            f"its architecture differs from audio_model={audio_model!r} (e.g. "
            "HTSAT-base for the music checkpoints)"
        )
    first_lines = "; ".join(detail.splitlines()[:2])[:400]
    return f"The CLAP checkpoint {path} does not fit the model: {hint}. ({first_lines})"


@contextlib.contextmanager
def _quiet():
    """Silence laion-clap's prints ("Load Checkpoint...") on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def window_starts(n_samples, window=CLIP_SAMPLES):
    """Start of each ``window``-sample window covering a clip, evenly spaced.

    A clip of at most ``window`` samples has one window at 0. Longer clips get
    ``ceil(n / window)`` full windows from the start to the end, so every
    window is real audio (no padding) and overlaps are spread evenly.
    """
    if n_samples <= window:
        return [0]
    n_windows = -(-n_samples // window)
    return np.linspace(0, n_samples - window, n_windows).round().astype(int).tolist()


@contextlib.contextmanager
def numpy_global_rng(state):
    """Run with numpy's global RNG in ``state`` (a list holding a RandomState).

    laion-clap's fusion picks its chunks with ``np.random``; this makes the
    picks reproducible without disturbing the caller's global RNG. The state
    carries over between calls so batching does not change the draws.
    """
    if state is None:
        yield
        return
    # laion-clap draws from the legacy global RNG; there is no Generator to pass.
    saved = np.random.get_state()  # noqa: NPY002
    np.random.set_state(state[0].get_state())  # noqa: NPY002
    try:
        yield
    finally:
        state[0].set_state(np.random.get_state())  # noqa: NPY002
        np.random.set_state(saved)  # noqa: NPY002


def audio_embeddings(module, waveforms):
    """laion-clap's ``get_audio_embedding_from_data`` on mono 48 kHz waveforms."""
    import torch

    with torch.inference_mode():
        return module.get_audio_embedding_from_data(list(waveforms), use_tensor=False)


def text_embeddings(module, texts):
    """laion-clap's ``get_text_embedding`` without gradients."""
    import torch

    with torch.inference_mode():
        return module.get_text_embedding(list(texts), use_tensor=False)
