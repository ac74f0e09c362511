"""Published CLAP models: the names users type, and what each one is.

One row per published model of the three families :class:`CLAPEmbedder`
loads. The row says everything that can be known without reading weights:
which backend loads it, the audio and text architectures, whether it uses
feature fusion, the sample rate and clip length its audio encoder was
trained on, the embedding width, and where its weights are published.
:func:`~sklearn_audioconcepts.clap.published_models` shows the table.
"""

from dataclasses import asdict, dataclass

__all__ = ["PUBLISHED_MODELS", "PublishedModel", "lookup"]

FAMILIES = ("laion", "hf", "msclap")

FAMILY_LIBRARIES = {
    "laion": "laion-clap",
    "hf": "transformers",
    "msclap": "msclap",
}


@dataclass(frozen=True)
class PublishedModel:
    """One published CLAP model.

    ``hub_repo`` is the Hugging Face hub repository; ``filename`` the weight
    file in it for the families that publish one file (laion-clap, msclap),
    ``None`` for a transformers repository (a whole folder).
    """

    name: str
    family: str
    audio_architecture: str
    text_encoder: str
    fusion: bool
    sample_rate: int
    clip_seconds: float
    embedding_dim: int
    hub_repo: str
    filename: str | None = None
    version: str | None = None  # msclap's config version ("2022", "2023")
    description: str = ""

    @property
    def clip_samples(self):
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def url(self):
        base = f"https://huggingface.co/{self.hub_repo}"
        if self.filename is None:
            return base
        return f"{base}/resolve/main/{self.filename}"

    def as_row(self):
        row = asdict(self)
        row["url"] = self.url
        return row


def _laion(name, architecture, fusion, description):
    return PublishedModel(
        name=name,
        family="laion",
        audio_architecture=architecture,
        text_encoder="RoBERTa-base",
        fusion=fusion,
        sample_rate=48_000,
        clip_seconds=10.0,
        embedding_dim=512,
        hub_repo="lukewys/laion_clap",
        filename=f"{name}.pt",
        description=description,
    )


def _hf(name, architecture, fusion, description):
    return PublishedModel(
        name=name,
        family="hf",
        audio_architecture=architecture,
        text_encoder="RoBERTa-base",
        fusion=fusion,
        sample_rate=48_000,
        clip_seconds=10.0,
        embedding_dim=512,
        hub_repo=name,
        description=description,
    )


_ROWS = [
    _laion("630k-best", "HTSAT-tiny", False, "LAION-Audio-630K"),
    _laion("630k-audioset-best", "HTSAT-tiny", False, "LAION-Audio-630K + AudioSet"),
    _laion("630k-fusion-best", "HTSAT-tiny", True, "LAION-Audio-630K, fusion"),
    _laion(
        "630k-audioset-fusion-best",
        "HTSAT-tiny",
        True,
        "LAION-Audio-630K + AudioSet, fusion",
    ),
    _laion(
        "music_audioset_epoch_15_esc_90.14",
        "HTSAT-base",
        False,
        "music + AudioSet + LAION-Audio-630K",
    ),
    _laion(
        "music_speech_epoch_15_esc_89.25",
        "HTSAT-base",
        False,
        "music + speech + LAION-Audio-630K",
    ),
    _laion(
        "music_speech_audioset_epoch_15_esc_89.98",
        "HTSAT-base",
        False,
        "music + speech + AudioSet + LAION-Audio-630K",
    ),
    _hf("laion/clap-htsat-unfused", "HTSAT-tiny", False, "630k-audioset-best"),
    _hf("laion/clap-htsat-fused", "HTSAT-tiny", True, "630k-audioset-fusion-best"),
    _hf("laion/larger_clap_general", "HTSAT-base", False, "general audio"),
    _hf("laion/larger_clap_music", "HTSAT-base", False, "music"),
    _hf(
        "laion/larger_clap_music_and_speech",
        "HTSAT-base",
        False,
        "music and speech",
    ),
    PublishedModel(
        name="msclap-2023",
        family="msclap",
        audio_architecture="HTSAT",
        text_encoder="GPT-2",
        fusion=False,
        sample_rate=44_100,
        clip_seconds=7.0,
        embedding_dim=1024,
        hub_repo="microsoft/msclap",
        filename="CLAP_weights_2023.pth",
        version="2023",
        description="Microsoft CLAP 2023, 4.6M audio-text pairs (paper 1's model)",
    ),
    PublishedModel(
        name="msclap-2022",
        family="msclap",
        audio_architecture="Cnn14",
        text_encoder="BERT-base-uncased",
        fusion=False,
        sample_rate=44_100,
        clip_seconds=5.0,
        embedding_dim=1024,
        hub_repo="microsoft/msclap",
        filename="CLAP_weights_2022.pth",
        version="2022",
        description="Microsoft CLAP 2022, 128k audio-text pairs",
    ),
]

PUBLISHED_MODELS = {model.name: model for model in _ROWS}


def lookup(name):
    """The published model called ``name`` (``.pt``/``.pth`` may be added), or None."""
    name = str(name)
    if name in PUBLISHED_MODELS:
        return PUBLISHED_MODELS[name]
    for suffix in (".pt", ".pth"):
        if name.endswith(suffix) and name[: -len(suffix)] in PUBLISHED_MODELS:
            model = PUBLISHED_MODELS[name[: -len(suffix)]]
            return model if model.filename == name else None
    return None
