"""One protocol over the CLAP families: resolving names, loading, sharing models.

:class:`~sklearn_audioconcepts.CLAPEmbedder` is the public estimator; each
family's library-specific code lives in a private module of its own that
provides two functions:

``describe(path, *, enable_fusion, audio_model, state)``
    A :class:`ModelSpec` of a local checkpoint file or folder, from its
    metadata (``state`` is the checkpoint already read with
    ``weights_only=True`` for files, ``None`` for folders), without building
    the model.
``load(spec, *, text_model, device)``
    A :class:`ClapBackend` with the weights of ``spec`` loaded, in eval mode.

=========  =========================  ==========================================
family     module                     library
=========  =========================  ==========================================
laion      ``_clap.py``               laion-clap's ``CLAP_Module``
hf         ``_clap_hf.py``            transformers' ``ClapModel``/``ClapProcessor``
msclap     ``_clap_msclap.py``        msclap's model classes (``msclap.models``)
=========  =========================  ==========================================
"""

import collections
import contextlib
import copy
import hashlib
import importlib
import json
import os
import re
import threading
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._clap_models import FAMILY_LIBRARIES, PUBLISHED_MODELS, lookup

_FAMILY_MODULES = {
    "laion": "._clap",
    "hf": "._clap_hf",
    "msclap": "._clap_msclap",
}
# Bytes of each weight file hashed into a fingerprint (start and end): enough
# to tell re-trained or re-downloaded weights apart without reading 700 MB.
_FINGERPRINT_BYTES = 1 << 20


class CheckpointError(ValueError):
    """A CLAP checkpoint that is missing, unreadable or does not fit the model."""


@dataclass(frozen=True)
class ModelSpec:
    """What a CLAP model is, known before its weights are loaded.

    ``location`` is the local file or folder when there is one (``None`` for
    a published name or hub id, fetched or found in a cache when loaded).
    ``options`` holds family-specific facts a backend needs to build the
    model (e.g. laion-clap's ``audio_model`` name, msclap's config version).
    """

    family: str
    name: str
    sample_rate: int
    clip_samples: int
    embedding_dim: int
    fusion: bool = False
    audio_architecture: str | None = None
    location: str | None = None
    published: object = None  # PublishedModel or None
    options: tuple = field(default_factory=tuple)  # sorted (key, value) pairs

    def option(self, key, default=None):
        return dict(self.options).get(key, default)

    def fingerprint(self):
        """What identifies the weights: the name, plus the files' bytes when local."""
        if self.location is None:
            return {"name": self.name}
        return {"name": self.name, "files": weight_fingerprint(self.location)}


class ClapBackend:
    """A loaded CLAP model of one family.

    Subclasses set the class attribute ``family`` and implement
    :meth:`embed_audio` and :meth:`embed_text`. ``spec`` carries
    ``sample_rate``, ``clip_samples`` and ``embedding_dim``.
    """

    family = None

    def __init__(self, spec):
        self.spec = spec

    @property
    def sample_rate(self):
        return self.spec.sample_rate

    @property
    def clip_samples(self):
        return self.spec.clip_samples

    @property
    def embedding_dim(self):
        return self.spec.embedding_dim

    def embed_audio(self, waveforms, *, fusion=False):
        """Embeddings of mono float32 waveforms at :attr:`sample_rate`.

        Each waveform is at most :attr:`clip_samples` long unless ``fusion``
        (the family's own handling of a long clip). Returns an (n, d) array;
        rows need not be normalised.
        """
        raise NotImplementedError

    def embed_text(self, texts):
        """Text embeddings of a list of strings: an (m, d) array."""
        raise NotImplementedError


def family_module(family):
    return importlib.import_module(_FAMILY_MODULES[family], __package__)


def resolve_model(checkpoint, *, family="auto", enable_fusion=None, audio_model=None):
    """The :class:`ModelSpec` of what a user typed: a name, a hub id, a path.

    Cheap: a published name is looked up in the table; a local file is read
    once with ``weights_only=True`` (memory-mapped) to tell its family and
    shape; a folder's ``config.json`` is read. Nothing is built.
    """
    published = lookup(checkpoint)
    path = Path(os.fspath(checkpoint)).expanduser()
    if published is not None and not path.exists():
        _check_family(family, published.family, checkpoint)
        return _published_spec(published, enable_fusion, audio_model)
    if path.is_dir():
        return _describe_local(path, "hf", family, enable_fusion, audio_model, None)
    if path.is_file():
        state = read_checkpoint(path)
        detected = detect_family(state, path)
        return _describe_local(
            path, detected, family, enable_fusion, audio_model, state
        )
    name = os.fspath(checkpoint)
    if family in ("auto", "hf") and _looks_like_hub_id(name):
        return family_module("hf").describe_hub_id(name, enable_fusion=enable_fusion)
    raise FileNotFoundError(_not_found_message(name, family))


def local_identity(checkpoint):
    """Size and modification time of a local file or folder (None otherwise).

    Part of the key under which an estimator keeps its resolved spec, so a
    checkpoint replaced on disk is resolved again.
    """
    path = Path(os.fspath(checkpoint)).expanduser()
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _check_family(requested, actual, checkpoint):
    if requested not in ("auto", actual):
        raise CheckpointError(
            f"{os.fspath(checkpoint)!r} is a {actual!r} model "
            f"({FAMILY_LIBRARIES[actual]}), not {requested!r}; set family='auto' "
            f"or family={actual!r}."
        )


def _published_spec(published, enable_fusion, audio_model):
    if enable_fusion is not None and bool(enable_fusion) != published.fusion:
        raise CheckpointError(
            f"{published.name!r} was trained "
            f"{'with' if published.fusion else 'without'} feature fusion; leave "
            f"enable_fusion=None (inferred from the name) or set it to "
            f"{published.fusion}."
        )
    if published.family == "laion":
        expected = published.audio_architecture
        if audio_model is not None and os.fspath(audio_model) != expected:
            raise CheckpointError(
                f"{published.name!r} is a {expected} model; leave audio_model=None "
                f"(inferred from the name) or set audio_model={expected!r}."
            )
    elif audio_model is not None:
        raise CheckpointError(
            f"audio_model applies to laion-clap checkpoints only; "
            f"{published.name!r} is a {published.family!r} model: leave it None."
        )
    options = {"audio_model": published.audio_architecture}
    if published.version is not None:
        options["version"] = published.version
    return ModelSpec(
        family=published.family,
        name=published.name,
        sample_rate=published.sample_rate,
        clip_samples=published.clip_samples,
        embedding_dim=published.embedding_dim,
        fusion=published.fusion,
        audio_architecture=published.audio_architecture,
        published=published,
        options=tuple(sorted(options.items())),
    )


def _describe_local(path, detected, family, enable_fusion, audio_model, state):
    _check_family(family, detected, path)
    return family_module(detected).describe(
        path, enable_fusion=enable_fusion, audio_model=audio_model, state=state
    )


def _looks_like_hub_id(name):
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))


def _not_found_message(name, family):
    names = ", ".join(sorted(PUBLISHED_MODELS))
    return (
        f"CLAP model not found: {name!r} is neither a file or folder on this "
        f"machine nor a published name. Give the path of a checkpoint file "
        f"(laion-clap .pt, msclap .pth), a folder written by "
        f"ClapModel.save_pretrained, a Hugging Face hub id such as "
        f"'laion/larger_clap_general', or one of: {names}."
        + (f" (family={family!r})" if family != "auto" else "")
    )


def read_checkpoint(path):
    """A checkpoint file's contents as data: tensors and plain values only.

    ``weights_only=True`` refuses pickled code; the file is memory-mapped when
    it is in the zip format, so reading a 700 MB checkpoint costs little until
    its tensors are used.
    """
    import torch

    path = Path(path)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # legacy (non-zip) format cannot be mapped
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every reason becomes one clear error
        if isinstance(exc, MemoryError):
            raise
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if refused:
            raise CheckpointError(
                f"The CLAP checkpoint {path} holds a pickled Python object "
                f"({refused.group(1)}) besides weights, and is not unpickled here "
                "(unpickling can run code). If you trust the file, re-save only "
                "its weights: sd = torch.load(path, weights_only=False)"
                "['state_dict']; torch.save({'state_dict': sd}, new_path)."
            ) from None
        raise CheckpointError(
            f"Could not read the CLAP checkpoint {path}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:300]}. The file is truncated or not a "
            "PyTorch checkpoint; download it again."
        ) from None


def state_dict_of(checkpoint):
    """A checkpoint's tensor dict, without a DataParallel ``module.`` prefix."""
    state = checkpoint
    if isinstance(checkpoint, dict):
        for key in ("state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                state = checkpoint[key]
                break
    if not isinstance(state, dict):
        return {}
    if state and all(str(key).startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def detect_family(checkpoint, path):
    """``"laion"`` or ``"msclap"`` from a checkpoint's keys, else an error."""
    keys = state_dict_of(checkpoint).keys()
    if any(key.startswith(("audio_branch.", "text_branch.")) for key in keys):
        return "laion"
    if any(key.startswith(("audio_encoder.", "caption_encoder.")) for key in keys):
        return "msclap"
    sample = ", ".join(sorted(map(str, keys))[:5]) or "no tensors"
    raise CheckpointError(
        f"{path} is not a CLAP checkpoint of a known family: a laion-clap checkpoint "
        "has audio_branch.* and text_branch.* weights, a Microsoft CLAP (msclap) "
        f"one audio_encoder.* and caption_encoder.* weights; it has {sample}. "
        "A Hugging Face CLAP is a folder (pass the folder)."
    )


def check_state_dict_fits(model, state, *, path, hint="", ignore=()):
    """Load ``state`` into ``model`` strictly, or raise a :class:`CheckpointError`.

    Libraries that load with ``strict=False`` would silently leave random
    weights where a checkpoint does not fit; the missing and unexpected keys
    are reported instead (``ignore``: key suffixes that may be absent).
    """
    expected = model.state_dict()
    missing = [
        key for key in expected if key not in state and not key.endswith(tuple(ignore))
    ]
    unexpected = [key for key in state if key not in expected]
    wrong_shape = [
        f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong_shape),
        ):
            if keys:
                shown = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
                parts.append(f"{len(keys)} {label} ({shown})")
        raise CheckpointError(
            f"The CLAP checkpoint {path} does not fit the model: "
            + "; ".join(parts)
            + (f". {hint}" if hint else ".")
        )
    model.load_state_dict(
        {key: state[key] for key in expected if key in state}, strict=False
    )


def weight_fingerprint(location):
    """Sizes, times and a hash of the start and end of each weight file."""
    path = Path(location)
    files = (
        [path]
        if path.is_file()
        else sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES
        )
    )
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path.parent)}:{stat.st_size}".encode())
        with open(file, "rb") as handle:
            digest.update(handle.read(_FINGERPRINT_BYTES))
            if stat.st_size > 2 * _FINGERPRINT_BYTES:
                handle.seek(-_FINGERPRINT_BYTES, os.SEEK_END)
            digest.update(handle.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".txt", ".model")


# -- loaded models, shared between estimators ----------------------------------

_MODEL_CACHE = collections.OrderedDict()
_MODEL_CACHE_SIZE = 2
_CACHE_LOCK = threading.Lock()


def cached_backend(spec, *, text_model, device):
    """The loaded backend of ``spec``, shared by estimators with the same model.

    Clones made by ``GridSearchCV`` or ``cross_validate`` reuse one loaded
    model instead of reading the weights once per fit. The two most recent
    models are kept; weights that changed on disk are read again.
    """
    key = json.dumps(
        {
            "spec": [spec.family, spec.name, spec.fusion, list(spec.options)],
            "fingerprint": spec.fingerprint(),
            "text_model": None if text_model is None else os.fspath(text_model),
            "device": str(device),
        },
        sort_keys=True,
        default=str,
    )
    with _CACHE_LOCK:
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
    backend = family_module(spec.family).load(
        spec, text_model=text_model, device=device
    )
    with _CACHE_LOCK:
        _MODEL_CACHE[key] = backend
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
    return backend


def window_starts(n_samples, window):
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

    laion-clap's fusion and transformers' fused feature extractor pick their
    chunks with ``np.random``; this makes the picks reproducible without
    disturbing the caller's global RNG. The state carries over between calls
    so batching does not change the draws.
    """
    if state is None:
        yield
        return
    # The libraries draw from the legacy global RNG; there is no Generator to pass.
    saved = np.random.get_state()  # noqa: NPY002
    np.random.set_state(state[0].get_state())  # noqa: NPY002
    try:
        yield
    finally:
        state[0].set_state(np.random.get_state())  # noqa: NPY002
        np.random.set_state(saved)  # noqa: NPY002


# -- CPU int8 ------------------------------------------------------------------

# The attribute of each family's backend that holds its torch model.
_TORCH_MODEL_ATTRIBUTE = {"laion": "module", "msclap": "clap", "hf": "model"}


def quantize_dynamic_int8(backend):
    """A copy of ``backend`` whose model's ``Linear`` layers are dynamic int8.

    ``torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
    dtype=torch.qint8)`` on a deep copy of the model: ``backend`` (which
    :func:`cached_backend` may share between estimators) is left as it was.
    CPU only. ``torch.ao.quantization`` is deprecated in favour of torchao
    (its warning says "will be removed in 2.10"; it still works in torch
    2.14). Not exposed yet: ``benchmarks/bench_clap.py`` measures its
    speed-up and its cosine to the float32 embeddings per family (issue 14
    offers it only where that cosine is at least 0.99).
    """
    import torch

    attribute = _TORCH_MODEL_ATTRIBUTE.get(backend.family)
    if attribute is None:
        raise ValueError(
            f"int8 quantisation is implemented for the families "
            f"{sorted(_TORCH_MODEL_ATTRIBUTE)}, not {backend.family!r}."
        )
    model = getattr(backend, attribute)
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError(
            "Dynamic int8 quantisation runs on the CPU only; load the model with "
            "device='cpu'."
        )
    # msclap's HTS-AT keeps its config *module* as an attribute, which deepcopy
    # (and so quantize_dynamic's own copy) cannot copy: such modules are shared.
    memo = {
        id(value): value
        for layer in model.modules()
        for value in vars(layer).values()
        if isinstance(value, types.ModuleType)
    }
    model = copy.deepcopy(model, memo)
    with warnings.catch_warnings():
        # torch deprecates torch.ao.quantization and quantized tensors in favour
        # of torchao (still present and working in torch 2.14); not the user's
        # concern while this stays private.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )
    quantized = copy.copy(backend)
    setattr(quantized, attribute, model)
    return quantized


# -- text encoders given as local folders (laion-clap's RoBERTa, msclap's GPT-2/BERT)

_TEXT_MODEL_FILES = {
    "config": ("config.json",),
    "weights": ("model.safetensors", "pytorch_model.bin"),
    "tokenizer": ("tokenizer.json", "vocab.json", "vocab.txt"),
}


def check_text_folder(text_model, *, holds, save_hint):
    """Raise unless ``text_model`` is a folder with a text model and its tokenizer.

    ``holds`` says what the folder must hold, ``save_hint`` how to make it.
    """
    directory = Path(os.fspath(text_model)).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(
            f"text_model={os.fspath(text_model)!r} is not a directory. It must hold "
            f"{holds}."
        )
    for kind, names in _TEXT_MODEL_FILES.items():
        if not any((directory / name).is_file() for name in names):
            raise FileNotFoundError(
                f"The text model directory {directory} has no {kind} file (expected "
                f"{' or '.join(names)}). {save_hint}"
            )
    return directory


@contextlib.contextmanager
def offline_hub():
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


class ResolveName:
    """Stand-in for a transformers class whose ``from_pretrained`` maps one name."""

    def __init__(self, cls, name, target):
        self._cls, self._name, self._target = cls, name, target

    def from_pretrained(self, name, *args, **kwargs):
        if name == self._name:
            name = self._target
        return self._cls.from_pretrained(name, *args, **kwargs)

    def __getattr__(self, attribute):
        return getattr(self._cls, attribute)
