"""LAION-CLAP through the ``laion-clap`` package: the ``"laion"`` family backend.

Nothing here knows about scikit-learn; :class:`~sklearn_audioconcepts.CLAPEmbedder`
is the thin estimator around it (see ``_clap_backends`` for the protocol).
The model is always built by laion-clap's own ``CLAP_Module``. Its weights
are read here, not by ``CLAP_Module.load_ckpt``, which unpickles the file
(``weights_only=False``) and fails with a ``KeyError`` on a checkpoint
re-saved with current transformers (no ``text_branch.embeddings.position_ids``
entry): the file is read as data and its keys checked strictly.

Three things of laion-clap's need care:

* It loads its RoBERTa text encoder and tokenizer as ``"roberta-base"`` from
  the Hugging Face hub, with no way to pass a directory. A local directory is
  honoured by resolving that one name to it while the model is built.
* With transformers 5, a tokenizer whose files are missing loads as an empty
  vocabulary of special tokens without an error; every text would then embed
  the same. The tokenizer is therefore checked against the text model.
* A file's fusion and HTS-AT size are read off its weights, so users need not
  set ``enable_fusion`` or ``audio_model`` for a checkpoint of their own.
"""

import contextlib
import importlib.util
import io
import os
import sys
import threading
from pathlib import Path

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
from ._clap_backends import window_starts as _window_starts

SAMPLE_RATE = 48_000
CLIP_SAMPLES = 480_000  # laion-clap's 10 s input
EMBEDDING_DIM = 512
TEXT_MODEL_NAME = "roberta-base"
HUB_REPO = "lukewys/laion_clap"
HUB_URL = f"https://huggingface.co/{HUB_REPO}/resolve/main/"

# HTS-AT's patch-embedding width tells its size (laion-clap's configs).
_HTSAT_WIDTHS = {96: "HTSAT-tiny", 128: "HTSAT-base", 256: "HTSAT-large"}
_PATCH_EMBED = "audio_branch.patch_embed.proj.weight"
# laion-clap's own model has this buffer only with transformers < 4.31;
# published checkpoints have it, re-saved ones may not.
_POSITION_IDS = "text_branch.embeddings.position_ids"


# Building a model swaps module attributes of laion-clap for a moment.
_BUILD_LOCK = threading.RLock()


def import_laion_clap():
    """Import laion-clap, or say how to install it.

    laion-clap's training module loads three tokenizers from the Hugging Face
    hub when imported. Offline with transformers 4 that import fails (a
    ``TypeError`` on a missing vocabulary file), although inference never
    uses them; they are loaded tolerantly, as placeholders that raise if used.
    """
    if "laion_clap" in sys.modules:
        return sys.modules["laion_clap"]
    try:
        with _BUILD_LOCK, _tolerant_training_tokenizers():
            import laion_clap
    except ImportError as exc:
        raise ImportError(
            "CLAPEmbedder needs the laion-clap package: pip install "
            f"'sklearn-audioconcepts[clap]' (import failed: {exc})."
        ) from exc
    return laion_clap


_TRAINING_TOKENIZERS = ("BertTokenizer", "RobertaTokenizer", "BartTokenizer")


class _UnavailableTokenizer:
    """Stands for a tokenizer laion-clap loads at import but only training uses."""

    def __init__(self, name, error):
        self._name, self._error = name, error

    def __getattr__(self, attribute):
        raise RuntimeError(
            f"laion-clap's training tokenizer {self._name!r} could not be loaded "
            f"when laion-clap was imported ({self._error}); connect to the Hugging "
            "Face hub or fill its cache to use laion-clap's training code."
        )

    def __call__(self, *args, **kwargs):
        return self.__getattr__("__call__")


@contextlib.contextmanager
def _tolerant_training_tokenizers():
    import transformers

    saved = {}
    for name in _TRAINING_TOKENIZERS:
        cls = getattr(transformers, name)
        saved[cls] = cls.__dict__.get("from_pretrained")
        original = cls.from_pretrained

        def tolerant(name_or_path, *args, _original=original, **kwargs):
            try:
                return _original(name_or_path, *args, **kwargs)
            except (OSError, TypeError, ValueError) as exc:
                return _UnavailableTokenizer(str(name_or_path), exc)

        cls.from_pretrained = tolerant
    try:
        yield
    finally:
        for cls, descriptor in saved.items():
            if descriptor is None:
                del cls.from_pretrained
            else:
                cls.from_pretrained = descriptor


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
    return check_text_folder(
        text_model,
        holds=f"the '{TEXT_MODEL_NAME}' text encoder and tokenizer as written by "
        "RobertaModel.save_pretrained and RobertaTokenizer.save_pretrained",
        save_hint=f"On a machine with internet, run "
        f"RobertaModel.from_pretrained('{TEXT_MODEL_NAME}').save_pretrained(d) "
        f"and RobertaTokenizer.from_pretrained('{TEXT_MODEL_NAME}')"
        ".save_pretrained(d), then copy d here and pass text_model=d.",
    )


@contextlib.contextmanager
def _text_model_from(text_model):
    """Resolve laion-clap's ``"roberta-base"`` to ``text_model`` while building."""
    if text_model is None:
        yield
        return
    directory = str(check_text_model_dir(text_model))
    hook, _, model = _laion_modules()
    saved = (hook.RobertaTokenizer, model.RobertaModel)
    hook.RobertaTokenizer = ResolveName(saved[0], TEXT_MODEL_NAME, directory)
    model.RobertaModel = ResolveName(saved[1], TEXT_MODEL_NAME, directory)
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
    offline = offline_hub() if text_model is not None else contextlib.nullcontext()
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


def describe(path, *, enable_fusion=None, audio_model=None, state=None):
    """The :class:`ModelSpec` of a laion-clap checkpoint file, from its weights."""
    state = state_dict_of(state if state is not None else read_checkpoint(path))
    has_fusion = any(".fusion_model." in key or ".mel_conv2d." in key for key in state)
    if enable_fusion is not None and bool(enable_fusion) != has_fusion:
        raise CheckpointError(
            f"The CLAP checkpoint {path} was trained "
            f"{'with' if has_fusion else 'without'} feature fusion; leave "
            f"enable_fusion=None (read from the checkpoint) or set it to {has_fusion}."
        )
    if audio_model is None:
        audio_model = _architecture_of(state, path)
    projection = state.get("audio_projection.2.weight")
    width = EMBEDDING_DIM if projection is None else int(projection.shape[0])
    return ModelSpec(
        family="laion",
        name=str(path),
        sample_rate=SAMPLE_RATE,
        clip_samples=CLIP_SAMPLES,
        embedding_dim=width,
        fusion=has_fusion,
        audio_architecture=Path(os.fspath(audio_model)).stem,
        location=str(Path(path).resolve()),
        options=(("audio_model", os.fspath(audio_model)),),
    )


def _architecture_of(state, path):
    patch = state.get(_PATCH_EMBED)
    if patch is not None and int(patch.shape[0]) in _HTSAT_WIDTHS:
        return _HTSAT_WIDTHS[int(patch.shape[0])]
    raise CheckpointError(
        f"Could not tell the audio architecture of the CLAP checkpoint {path} from "
        f"its weights (no HTS-AT {_PATCH_EMBED} of a known width); set audio_model= "
        "to a laion-clap architecture name (e.g. 'PANN-14') or a model-config JSON."
    )


def load(spec, *, text_model=None, device="cpu"):
    """A :class:`LaionBackend` with the weights of ``spec`` loaded."""
    import torch

    path = Path(spec.location) if spec.location else _download_known(spec.name + ".pt")
    audio_model = spec.option("audio_model")
    module = build_clap_module(
        audio_model=audio_model,
        enable_fusion=spec.fusion,
        text_model=text_model,
        device=device,
    )
    state = dict(state_dict_of(read_checkpoint(path)))
    if _POSITION_IDS not in module.model.state_dict():
        state.pop(_POSITION_IDS, None)
    hint = (
        f"It is not a {Path(os.fspath(audio_model)).stem} "
        f"{'fusion ' if spec.fusion else ''}model of laion-clap; pass audio_model= "
        "(architecture name or model-config JSON) if it is another architecture."
    )
    try:
        check_state_dict_fits(
            module.model, state, path=path, hint=hint, ignore=(_POSITION_IDS,)
        )
    except RuntimeError as exc:  # load_state_dict's own complaint, e.g. dtypes
        message = f"The CLAP checkpoint {path} does not fit: {exc}"
        raise CheckpointError(message) from None
    module.model.to(torch.device(device))
    module.eval()
    return LaionBackend(spec, module)


class LaionBackend(ClapBackend):
    """laion-clap's ``CLAP_Module``, behind the backend protocol."""

    family = "laion"

    def __init__(self, spec, module):
        super().__init__(spec)
        self.module = module

    def embed_audio(self, waveforms, *, fusion=False):
        return audio_embeddings(self.module, waveforms)

    def embed_text(self, texts):
        return text_embeddings(self.module, texts)


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


@contextlib.contextmanager
def _quiet():
    """Silence laion-clap's prints ("Load Checkpoint...") on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def window_starts(n_samples, window=CLIP_SAMPLES):
    """Evenly spaced 10 s windows covering a clip (see ``_clap_backends``)."""
    return _window_starts(n_samples, window)


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
