"""Synthetic data with a known structure, for tests, examples and benchmarks.

Real CLAP checkpoints and audio corpora cannot be shipped, so:

- :func:`make_concept_embeddings` reproduces the geometry that matters for the
  concept decomposition: a vocabulary whose text embeddings are coherent (a
  shared direction plus semantic clusters) and audio embeddings that are
  sparse nonnegative mixtures of concepts seen through a modality gap and noise.
- :func:`make_speech_corpus` synthesises real speech in several languages and
  voices with the eSpeak NG synthesiser, labelled by language, speaker and
  gender, for speaker-embedding experiments that run offline; with
  ``music_fraction``, some utterances carry synthesised telephone hold music
  underneath (:func:`make_hold_music`, :func:`add_hold_music`), as in IVR
  recordings.

:func:`load_dataset` reads real data sets (ESC-50, UrbanSound8K, DCASE 2017
task 4, AudioSet, VocalSound, TUT Acoustic Scenes 2017, Clotho) from the
folders their official archives unpack to.
"""

import shutil
import subprocess
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._dataset_layouts import load_dataset
from .vocabulary import ConceptVocabulary

__all__ = [
    "SPEECH_CORPUS_TEXTS",
    "add_hold_music",
    "make_hold_music",
    "load_dataset",
    "make_concept_embeddings",
    "make_sound_scenes",
    "make_speech_corpus",
]


def _unit_rows(array):
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def _coherent_dictionary(
    rng, n_concepts, n_features, coherence, n_clusters, groups=None
):
    """Unit atoms with mean pairwise cosine ``coherence`` and clustered residuals."""
    shared = _unit_rows(rng.standard_normal((1, n_features)))
    if groups is None:
        membership = rng.randint(n_clusters, size=n_concepts)
    else:
        _, membership = np.unique(np.asarray(groups), return_inverse=True)
        n_clusters = membership.max() + 1
    centroids = _unit_rows(rng.standard_normal((n_clusters, n_features)))
    own = _unit_rows(rng.standard_normal((n_concepts, n_features)))
    # Half of what is not shared comes from the cluster: atoms in a cluster
    # are near-synonyms, as "dog barking" and "dog howling" are in CLAP space.
    residual = _unit_rows(centroids[membership] + own)
    atoms = np.sqrt(coherence) * shared + np.sqrt(1.0 - coherence) * residual
    return _unit_rows(atoms)


def make_concept_embeddings(
    n_samples=1000,
    n_concepts=2000,
    n_features=512,
    *,
    n_active=30,
    coherence=0.5,
    n_clusters=100,
    modality_gap=1.0,
    noise=0.25,
    n_classes=None,
    concept_names=None,
    concept_groups=None,
    random_state=None,
):
    """Generate unit-norm embeddings that are sparse mixtures of named concepts.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of embeddings (rows of ``X``).
    n_concepts : int, default=2000
        Vocabulary size ``V``.
    n_features : int, default=512
        Embedding dimension ``d`` (512 for LAION-CLAP).
    n_active : int, default=30
        Number of concepts mixed into each embedding.
    coherence : float, default=0.5
        Mean pairwise cosine similarity of the concept embeddings before
        centring (about 0.5 for CLAP text embeddings of short audio phrases).
    n_clusters : int, default=100
        Number of groups of near-synonymous concepts.
    modality_gap : float, default=1.0
        Norm of the offset shared by all audio embeddings before
        normalisation; mean-centring removes it.
    noise : float, default=0.25
        Norm of the isotropic Gaussian noise added to each mixture, relative
        to the unit-norm mixture.
    n_classes : int or None, default=None
        When given, samples fall into this many classes, each drawing 70% of
        its concepts from its own pool of ``3 * n_active`` concepts, and ``y``
        holds the labels.
    concept_names : sequence of str of length n_concepts, default=None
        Names for the concepts; ``concept_0000``, ... when not given.
    concept_groups : array-like of length n_concepts, default=None
        Group label of each concept (e.g. its sound source); concepts of a
        group become near-synonyms. Overrides ``n_clusters``.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float32
        Unit-norm audio-like embeddings.
    vocabulary : ConceptVocabulary
        ``n_concepts`` concepts (named ``concept_0``, ... zero-padded to equal
        width, unless ``concept_names`` is given) with unit-norm embeddings.
    codes : ndarray of shape (n_samples, n_concepts)
        The planted nonnegative weights (before the gap and noise were added).
    y : ndarray of shape (n_samples,) or None
        Class labels when ``n_classes`` is given.

    Examples
    --------
    >>> from sklearn_audioconcepts.datasets import make_concept_embeddings
    >>> X, vocabulary, codes, _ = make_concept_embeddings(10, 200, 64, random_state=0)
    >>> X.shape, len(vocabulary), codes.shape
    ((10, 64), 200, (10, 200))
    """
    rng = check_random_state(random_state)
    if not 0 < n_active <= n_concepts:
        raise ValueError(
            f"n_active must be in [1, n_concepts={n_concepts}], got {n_active}."
        )
    atoms = _coherent_dictionary(
        rng, n_concepts, n_features, coherence, n_clusters, concept_groups
    )

    y = None
    if n_classes is None:
        pools = [np.arange(n_concepts)]
        labels = np.zeros(n_samples, dtype=int)
    else:
        y = labels = rng.randint(n_classes, size=n_samples)
        # Each class draws most concepts from a small signature pool, as clips
        # of one class share their dominant concepts.
        pool_size = min(3 * n_active, n_concepts // n_classes)
        order = rng.permutation(n_concepts)
        pools = [order[c * pool_size : (c + 1) * pool_size] for c in range(n_classes)]

    codes = np.zeros((n_samples, n_concepts))
    for i, label in enumerate(labels):
        pool = pools[label]
        n_own = min(len(pool), int(np.ceil(0.7 * n_active)))
        own = rng.choice(pool, n_own, replace=False)
        rest = np.setdiff1d(np.arange(n_concepts), own)
        shared = rng.choice(rest, n_active - n_own, replace=False)
        support = np.concatenate([own, shared])
        # Heavy-tailed weights: a few concepts dominate a clip, as "dog barking"
        # dominates a clip of a dog barking in a park.
        codes[i, support] = rng.exponential(1.0, len(support)) ** 2

    mixtures = _unit_rows(codes @ atoms)
    mixtures += noise * _unit_rows(rng.standard_normal((n_samples, n_features)))
    gap = modality_gap * _unit_rows(rng.standard_normal((1, n_features)))
    X = _unit_rows(mixtures + gap).astype(np.float32)

    if concept_names is None:
        width = len(str(n_concepts - 1))
        concept_names = [f"concept_{j:0{width}d}" for j in range(n_concepts)]
    names = list(concept_names)
    vocabulary = ConceptVocabulary(
        names, atoms.astype(np.float32), metadata={"source": "make_concept_embeddings"}
    )
    return X, vocabulary, codes, y


# Everyday sentences per language (written for this package), read aloud by
# make_speech_corpus. Keys are eSpeak NG voice names.
SPEECH_CORPUS_TEXTS = {
    "en": (
        "The weather was lovely this morning, so we walked to the market.",
        "Could you please tell me where the nearest train station is?",
        "My sister bought a new bicycle and rides it to work every day.",
        "We are going to cook dinner together tonight at seven.",
        "The library closes early on Sundays, so come before noon.",
        "He forgot his umbrella and got completely soaked in the rain.",
        "Thank you very much for your help with the garden yesterday.",
        "The children are playing football in the park behind the school.",
        "I would like a cup of tea with milk and no sugar, please.",
        "Our flight was delayed by two hours because of the storm.",
        "She reads a chapter of her book every evening before bed.",
        "The museum has a wonderful collection of old paintings.",
    ),
    "es": (
        "Hace muy buen tiempo hoy, así que vamos a dar un paseo.",
        "¿Podría decirme dónde está la estación de tren más cercana?",
        "Mi hermana compró una bicicleta nueva y va al trabajo en ella.",
        "Esta noche vamos a cocinar juntos una cena deliciosa.",
        "La biblioteca cierra temprano los domingos por la tarde.",
        "Se olvidó el paraguas y llegó a casa completamente mojado.",
        "Muchas gracias por tu ayuda con el jardín ayer por la mañana.",
        "Los niños juegan al fútbol en el parque detrás de la escuela.",
        "Quisiera un café con leche y un vaso de agua, por favor.",
        "Nuestro vuelo se retrasó dos horas por culpa de la tormenta.",
        "Ella lee un capítulo de su libro todas las noches.",
        "El museo tiene una colección maravillosa de pinturas antiguas.",
    ),
    "de": (
        "Das Wetter ist heute wunderschön, also gehen wir spazieren.",
        "Können Sie mir bitte sagen, wo der nächste Bahnhof ist?",
        "Meine Schwester hat ein neues Fahrrad und fährt damit zur Arbeit.",
        "Heute Abend kochen wir zusammen ein leckeres Essen.",
        "Die Bibliothek schließt am Sonntag schon am frühen Nachmittag.",
        "Er hat seinen Regenschirm vergessen und ist ganz nass geworden.",
        "Vielen Dank für deine Hilfe im Garten gestern Vormittag.",
        "Die Kinder spielen Fußball im Park hinter der Schule.",
        "Ich hätte gern eine Tasse Tee mit Milch, aber ohne Zucker.",
        "Unser Flug hatte wegen des Gewitters zwei Stunden Verspätung.",
        "Sie liest jeden Abend vor dem Schlafengehen ein Kapitel.",
        "Das Museum hat eine wunderbare Sammlung alter Gemälde.",
    ),
    "fr": (
        "Il fait très beau aujourd'hui, alors nous allons nous promener.",
        "Pourriez-vous me dire où se trouve la gare la plus proche?",
        "Ma sœur a acheté un nouveau vélo pour aller au travail.",
        "Ce soir, nous allons préparer le dîner ensemble.",
        "La bibliothèque ferme tôt le dimanche après-midi.",
        "Il a oublié son parapluie et il est rentré tout mouillé.",
        "Merci beaucoup pour ton aide dans le jardin hier matin.",
        "Les enfants jouent au football dans le parc derrière l'école.",
        "Je voudrais un café au lait et un verre d'eau, s'il vous plaît.",
        "Notre vol a eu deux heures de retard à cause de l'orage.",
        "Elle lit un chapitre de son livre chaque soir avant de dormir.",
        "Le musée possède une magnifique collection de tableaux anciens.",
    ),
    "it": (
        "Oggi il tempo è bellissimo, quindi andiamo a fare una passeggiata.",
        "Potrebbe dirmi dove si trova la stazione più vicina?",
        "Mia sorella ha comprato una bicicletta nuova per andare al lavoro.",
        "Stasera cuciniamo insieme una cena deliziosa.",
        "La biblioteca chiude presto la domenica pomeriggio.",
        "Ha dimenticato l'ombrello ed è tornato a casa tutto bagnato.",
        "Grazie mille per il tuo aiuto in giardino ieri mattina.",
        "I bambini giocano a calcio nel parco dietro la scuola.",
        "Vorrei un cappuccino e un bicchiere d'acqua, per favore.",
        "Il nostro volo è partito con due ore di ritardo per il temporale.",
        "Lei legge un capitolo del suo libro ogni sera prima di dormire.",
        "Il museo ha una splendida collezione di quadri antichi.",
    ),
    "ru": (
        "Сегодня очень хорошая погода, и мы идём гулять в парк.",
        "Скажите, пожалуйста, где находится ближайший вокзал?",
        "Моя сестра купила новый велосипед и ездит на нём на работу.",
        "Вечером мы вместе приготовим вкусный ужин.",
        "Библиотека по воскресеньям закрывается рано.",
        "Он забыл зонтик и совсем промок под дождём.",
        "Большое спасибо за помощь в саду вчера утром.",
        "Дети играют в футбол в парке за школой.",
        "Я хотел бы чашку чая с молоком, пожалуйста.",
        "Наш рейс задержали на два часа из-за грозы.",
        "Она читает главу своей книги каждый вечер перед сном.",
        "В музее прекрасная коллекция старинных картин.",
    ),
    # Mandarin in pinyin with tone numbers: eSpeak NG's Debian build reads
    # pinyin reliably but spells out most Chinese characters.
    "cmn": (
        "jin1 tian1 tian1 qi4 hen3 hao3, wo3 men5 qu4 gong1 yuan2 san4 bu4 ba5.",
        "qing3 wen4, zui4 jin4 de5 huo3 che1 zhan4 zai4 na3 li3?",
        "wo3 mei4 mei5 mai3 le5 yi2 liang4 xin1 zi4 xing2 che1.",
        "jin1 tian1 wan3 shang4 wo3 men5 yi4 qi3 zuo4 wan3 fan4.",
        "tu2 shu1 guan3 xing1 qi1 tian1 xia4 wu3 hen3 zao3 jiu4 guan1 men2 le5.",
        "ta1 wang4 le5 dai4 yu3 san3, quan2 shen1 dou1 shi1 tou4 le5.",
        "fei1 chang2 gan3 xie4 ni3 zuo2 tian1 bang1 wo3 zheng3 li3 hua1 yuan2.",
        "hai2 zi5 men5 zai4 xue2 xiao4 hou4 mian4 de5 gong1 yuan2 li3 ti1 zu2 qiu2.",
        "wo3 xiang3 yao4 yi4 bei1 jia1 niu2 nai3 de5 cha2, xie4 xie5.",
        "yin1 wei4 bao4 feng1 yu3, wo3 men5 de5 hang2 ban1 wan3 le5 liang3 ge5 "
        "xiao3 shi2.",
        "ta1 mei3 tian1 wan3 shang4 shui4 jiao4 qian2 dou1 kan4 yi4 zhang1 shu1.",
        "zhe4 ge5 bo2 wu4 guan3 you3 hen3 duo1 piao4 liang4 de5 gu3 hua4.",
    ),
}

# Languages whose texts need a specific eSpeak NG voice (default: the name).
_ESPEAK_LANGUAGE_VOICES = {"cmn": "cmn-latn-pinyin"}

# eSpeak NG voice variants and the gender their definitions declare.
_ESPEAK_VARIANTS = tuple(
    [(f"m{i}", "male") for i in range(1, 8)]
    + [(f"f{i}", "female") for i in range(1, 6)]
)
_ESPEAK_SAMPLE_RATE = 22050  # eSpeak NG's native output rate
_PITCH_RANGE = (25, 75)  # eSpeak NG base pitch, 0-99 (default 50)
_SPEED_RANGE = (130, 190)  # words per minute (default 175)


def make_speech_corpus(
    languages=("en", "es", "de"),
    *,
    n_voices=4,
    n_utterances=8,
    sample_rate=16000,
    texts=None,
    music_fraction=0.0,
    music_snr=10.0,
    random_state=None,
):
    """Synthesise labelled speech in several languages and voices with eSpeak NG.

    Each language gets ``n_voices`` speakers; a speaker is an eSpeak NG voice
    variant (``+m1`` ... ``+m7`` male, ``+f1`` ... ``+f5`` female) with its own
    base pitch and speaking rate, and reads ``n_utterances`` different
    sentences of that language, each with a slightly different pitch (within
    3 steps) and rate (within 8 words per minute) around the speaker's own.
    The result is real, if robotic, speech that any speaker-embedding model
    can embed offline, with ground truth for language, speaker and gender.

    Requires the ``espeak-ng`` program (Debian/Ubuntu:
    ``apt-get install espeak-ng``; macOS: ``brew install espeak-ng``).

    Parameters
    ----------
    languages : sequence of str, default=("en", "es", "de")
        eSpeak NG language voices. Built-in sentences exist for
        ``"en"``, ``"es"``, ``"de"``, ``"fr"``, ``"it"``, ``"ru"`` and
        ``"cmn"`` (Mandarin, written in pinyin with tone numbers and read by
        the ``cmn-latn-pinyin`` voice) in :data:`SPEECH_CORPUS_TEXTS`; pass
        ``texts`` for others.
    n_voices : int, default=4
        Speakers per language. Variants are shuffled so both genders
        appear; a variant is reused (with another pitch and rate) only past
        12 voices.
    n_utterances : int, default=8
        Sentences read by each speaker, all different while the language has
        enough sentences (then they repeat).
    sample_rate : int, default=16000
        Rate of the returned waveforms (eSpeak NG synthesises at 22,050 Hz;
        the audio is resampled with an anti-aliasing filter).
    texts : dict of str to sequence of str or None, default=None
        Sentences per language, overriding or extending the built-in ones.
    music_fraction : float in [0, 1], default=0.0
        Fraction of the utterances (chosen at random, ``round(fraction * n)``
        of them) that get synthesised hold music mixed underneath, as in
        recordings of interactive voice response (IVR) calls; see
        :func:`add_hold_music`. The speech itself, and every other column, is
        the same as without music for the same ``random_state``.
    music_snr : float, default=10.0
        Speech-to-music power ratio, in dB, of those utterances.
    random_state : int, RandomState instance or None, default=None
        Seed for the choice of variants, pitches, rates and sentences, and of
        the utterances with music and their music.

    Returns
    -------
    waveforms : list of ndarray of float32
        One mono waveform in [-1, 1] per utterance, of varying length.
    metadata : pandas.DataFrame
        One row per utterance with columns ``language``, ``speaker`` (e.g.
        ``"es-2"``), ``gender`` (``"male"`` or ``"female"``, as the variant
        defines it), ``voice`` (the eSpeak NG voice, e.g. ``"es+f3"``),
        ``pitch`` (eSpeak NG's 0-99 scale) and ``speed`` (words per minute)
        of the utterance, ``text``, ``sample_rate`` and ``music``
        (``"music"`` when hold music is mixed in, else ``"none"``).

    Raises
    ------
    RuntimeError
        When ``espeak-ng`` is not installed or fails.

    Examples
    --------
    >>> from sklearn_audioconcepts.datasets import make_speech_corpus
    >>> waveforms, metadata = make_speech_corpus(
    ...     ("en", "es"), n_voices=2, n_utterances=2, random_state=0
    ... )
    >>> len(waveforms), sorted(metadata["language"].unique())
    (8, ['en', 'es'])
    """
    rng = check_random_state(random_state)
    corpus_texts = _speech_texts(languages, texts)
    for name, value in (("n_voices", n_voices), ("n_utterances", n_utterances)):
        if not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if not isinstance(music_fraction, Real) or not 0 <= music_fraction <= 1:
        raise ValueError(
            f"music_fraction must be a number in [0, 1], got {music_fraction!r}."
        )
    _check_snr(music_snr)
    executable = _espeak_executable()

    waveforms, rows = [], []
    for language in languages:
        sentences = corpus_texts[language]
        for voice_index, (variant, gender) in enumerate(_draw_variants(rng, n_voices)):
            pitch = int(rng.randint(_PITCH_RANGE[0], _PITCH_RANGE[1] + 1))
            speed = int(rng.randint(_SPEED_RANGE[0], _SPEED_RANGE[1] + 1))
            voice = f"{_ESPEAK_LANGUAGE_VOICES.get(language, language)}+{variant}"
            for text in _draw_sentences(rng, sentences, n_utterances):
                # A speaker never says two sentences identically: small
                # per-utterance changes of pitch and rate around their own.
                utterance_pitch = int(np.clip(pitch + rng.randint(-3, 4), 0, 99))
                utterance_speed = speed + int(rng.randint(-8, 9))
                samples = _espeak(
                    executable, text, voice, utterance_pitch, utterance_speed
                )
                waveforms.append(_to_rate(samples, sample_rate))
                rows.append(
                    {
                        "language": language,
                        "speaker": f"{language}-{voice_index}",
                        "gender": gender,
                        "voice": voice,
                        "pitch": utterance_pitch,
                        "speed": utterance_speed,
                        "text": text,
                        "sample_rate": int(sample_rate),
                        "music": "none",
                    }
                )
    # Drawn after all the speech, so a corpus with music is the same speech
    # (same seed) as one without: the two differ only by the music.
    n_music = int(round(music_fraction * len(waveforms)))
    if n_music:
        for index in np.sort(rng.choice(len(waveforms), n_music, replace=False)):
            waveforms[index] = add_hold_music(
                waveforms[index], sample_rate, snr=music_snr, random_state=rng
            )
            rows[index]["music"] = "music"
    return waveforms, pd.DataFrame(rows)


def make_hold_music(duration, *, sample_rate=16000, random_state=None):
    """Synthesise telephone hold music: arpeggiated chords through a phone line.

    A random major key (root between G3 and G4), one of a few common
    four-chord progressions (I-V-vi-IV, I-vi-IV-V, vi-IV-I-V, I-IV-V-IV), a
    chord per bar at 90-130 beats per minute: the chord's notes are played
    as an eighth-note arpeggio with a timbre between a sine and a
    band-limited square wave, over a sine bass note per bar, each note with a
    short attack and an exponential decay. The result is band-passed to
    300-3,400 Hz like a telephone line, as the hold music of interactive voice
    response (IVR) recordings.

    Parameters
    ----------
    duration : float
        Length in seconds, positive.
    sample_rate : int, default=16000
        Samples per second, at least 8,000 (the telephone band needs it).
    random_state : int, RandomState instance or None, default=None
        Seed for the key, progression, tempo and timbre.

    Returns
    -------
    music : ndarray of float32, shape (round(duration * sample_rate),)
        Peak amplitude 0.5.

    Examples
    --------
    >>> from sklearn_audioconcepts.datasets import make_hold_music
    >>> music = make_hold_music(2.0, random_state=0)
    >>> music.shape, music.dtype, float(abs(music).max())
    ((32000,), dtype('float32'), 0.5)
    """
    from scipy.signal import butter, sosfilt

    if not isinstance(duration, Real) or not duration > 0:
        raise ValueError(f"duration must be a positive number, got {duration!r}.")
    if not isinstance(sample_rate, Integral) or sample_rate < 8000:
        raise ValueError(
            f"sample_rate must be an integer of at least 8000, got {sample_rate!r}."
        )
    rng = check_random_state(random_state)
    n_samples = max(1, int(round(duration * sample_rate)))
    root = int(rng.randint(55, 68))  # MIDI note, G3 to G4
    progression = _PROGRESSIONS[rng.randint(len(_PROGRESSIONS))]
    beat = 60.0 / rng.uniform(90, 130)
    squareness = rng.uniform(0.0, 0.6)
    note_length = int(beat / 2 * sample_rate)  # eighth notes
    t = np.arange(note_length) / sample_rate
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-t / rng.uniform(0.1, 0.3))
    bar_length = 8 * note_length
    bass_t = np.arange(bar_length) / sample_rate
    bass_envelope = np.minimum(bass_t / 0.02, 1.0) * np.exp(-bass_t / 1.0)
    pattern = (0, 1, 2, 3, 2, 1, 0, 1)  # up and down the chord, octave on top
    music = np.zeros(n_samples + bar_length)
    for bar_start in range(0, n_samples, bar_length):
        degree = progression[(bar_start // bar_length) % len(progression)]
        # a triad on the scale degree, plus its root an octave up
        notes = [
            root + _MAJOR_SCALE[(degree + step) % 7] + 12 * ((degree + step) // 7)
            for step in (0, 2, 4)
        ]
        notes.append(notes[0] + 12)
        for i, position in enumerate(pattern):
            start = bar_start + i * note_length
            tone = _tone(_midi_hz(notes[position]), t, squareness, sample_rate)
            music[start : start + note_length] += envelope * tone
        bass = np.sin(2 * np.pi * _midi_hz(notes[0] - 12) * bass_t)
        music[bar_start : bar_start + bar_length] += 0.6 * bass_envelope * bass
    sos = butter(4, [300, 3400], btype="bandpass", fs=sample_rate, output="sos")
    music = sosfilt(sos, music[:n_samples])
    return (0.5 * music / np.abs(music).max()).astype(np.float32)


def add_hold_music(waveform, sample_rate=16000, *, snr=10.0, random_state=None):
    """Mix synthesised hold music under a waveform at a speech-to-music ratio.

    Parameters
    ----------
    waveform : array-like of shape (n_samples,)
        Mono speech.
    sample_rate : int, default=16000
        Its rate, at least 8,000.
    snr : float, default=10.0
        Power of ``waveform`` over power of the music, in dB.
    random_state : int, RandomState instance or None, default=None
        Seed of the music (:func:`make_hold_music`).

    Returns
    -------
    mixture : ndarray of float32, shape (n_samples,)
        ``waveform`` plus the scaled music, scaled down as a whole only if
        its peak would pass 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.datasets import add_hold_music
    >>> speech = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32) * 0.5
    >>> mixed = add_hold_music(speech, 16000, snr=10.0, random_state=0)
    >>> music = mixed - speech
    >>> round(10 * np.log10(np.mean(speech**2) / np.mean(music**2)), 1)
    10.0
    """
    _check_snr(snr)
    speech = np.asarray(waveform, dtype=np.float64)
    if speech.ndim != 1 or len(speech) == 0:
        raise ValueError(
            f"waveform must be a non-empty 1-d (mono) array, got shape {speech.shape}."
        )
    music = make_hold_music(
        len(speech) / sample_rate, sample_rate=sample_rate, random_state=random_state
    )[: len(speech)].astype(np.float64)
    music = np.pad(music, (0, len(speech) - len(music)))
    speech_power = np.mean(speech**2)
    if speech_power == 0:
        raise ValueError("waveform is silent, so no speech-to-music ratio exists.")
    music *= np.sqrt(speech_power / (np.mean(music**2) * 10 ** (snr / 10)))
    mixture = speech + music
    peak = np.abs(mixture).max()
    return (mixture / max(peak, 1.0)).astype(np.float32)


_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
# scale degrees (0 = I) of common four-chord progressions
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3))


def _midi_hz(note):
    return 440.0 * 2.0 ** ((note - 69) / 12)


def _tone(frequency, t, squareness, sample_rate):
    """Sine blended with a square wave built from its odd harmonics below 4 kHz
    (summed rather than ``sign(sin)``, which would alias)."""
    square = sum(
        np.sin(2 * np.pi * h * frequency * t) / h
        for h in range(1, int(min(4000, sample_rate / 2) // frequency) + 1, 2)
    )
    return (1 - squareness) * np.sin(2 * np.pi * frequency * t) + squareness * square


def _check_snr(snr):
    if not isinstance(snr, Real) or not np.isfinite(snr):
        raise ValueError(f"music_snr / snr must be a finite number in dB, got {snr!r}.")


def _speech_texts(languages, texts):
    if isinstance(languages, str) or len(languages) == 0:
        raise ValueError(
            f"languages must be a non-empty sequence of eSpeak NG language names, "
            f"e.g. ('en', 'es', 'de'); got {languages!r}."
        )
    corpus_texts = {**SPEECH_CORPUS_TEXTS, **(texts or {})}
    missing = [language for language in languages if not corpus_texts.get(language)]
    if missing:
        raise ValueError(
            f"No sentences for language(s) {missing}. Built-in: "
            f"{sorted(SPEECH_CORPUS_TEXTS)}; pass texts={{language: [sentences]}} "
            "for others."
        )
    return {language: tuple(corpus_texts[language]) for language in languages}


def _draw_variants(rng, n_voices):
    """Variants without repetition while possible, genders interleaved."""
    males = [v for v in _ESPEAK_VARIANTS if v[1] == "male"]
    females = [v for v in _ESPEAK_VARIANTS if v[1] == "female"]
    rng.shuffle(males)
    rng.shuffle(females)
    interleaved = [v for pair in zip(males, females) for v in pair]
    interleaved += males[len(females) :]
    return [interleaved[i % len(interleaved)] for i in range(n_voices)]


def _draw_sentences(rng, sentences, n_utterances):
    order = rng.permutation(len(sentences))
    return [sentences[order[i % len(sentences)]] for i in range(n_utterances)]


def _espeak_executable():
    for name in ("espeak-ng", "espeak"):
        path = shutil.which(name)
        if path is not None:
            return path
    raise RuntimeError(
        "make_speech_corpus needs the eSpeak NG speech synthesiser, which was not "
        "found on PATH. Install it: `apt-get install espeak-ng` (Debian/Ubuntu), "
        "`brew install espeak-ng` (macOS)."
    )


def _espeak(executable, text, voice, pitch, speed):
    """Synthesise ``text``; return int16 samples at eSpeak's native rate."""
    result = subprocess.run(
        [executable, "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0 or len(result.stdout) <= 44:
        raise RuntimeError(
            f"{executable} failed for voice {voice!r} (exit code {result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip() or 'no audio produced'}. "
            f"Check that the voice exists: `{executable} --voices`."
        )
    return _wav_samples(result.stdout)


def _wav_samples(data):
    """int16 samples of a mono 16-bit WAV written to a pipe.

    Streamed WAVs declare placeholder chunk sizes, so the data chunk is taken
    to run to the end of the stream rather than trusting its header.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not produce a WAV stream.")
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = (
            data[offset : offset + 4],
            int.from_bytes(data[offset + 4 : offset + 8], "little"),
        )
        if chunk == b"fmt ":
            channels = int.from_bytes(data[offset + 10 : offset + 12], "little")
            rate = int.from_bytes(data[offset + 12 : offset + 16], "little")
            bits = int.from_bytes(data[offset + 22 : offset + 24], "little")
            if (channels, rate, bits) != (1, _ESPEAK_SAMPLE_RATE, 16):
                raise RuntimeError(
                    f"Unexpected espeak-ng output format: {channels} channel(s), "
                    f"{rate} Hz, {bits}-bit."
                )
        if chunk == b"data":
            payload = data[offset + 8 :]
            return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2")
        offset += 8 + size
    raise RuntimeError("espeak-ng produced a WAV stream without audio data.")


def _to_rate(samples, sample_rate):
    from .audio import resample

    waveform = samples.astype(np.float32) / 32768.0
    # eSpeak NG speaks near full scale; the resampling filter's ringing can
    # overshoot it slightly, which would leave the documented [-1, 1] range.
    return np.clip(resample(waveform, _ESPEAK_SAMPLE_RATE, sample_rate), -1.0, 1.0)


def make_sound_scenes(
    n_samples=1000,
    *,
    sample_rate=16000,
    duration=1.5,
    max_sources=3,
    n_short_captions=2,
    random_state=None,
):
    """Generate captioned sound scenes whose generative factors are known.

    A controlled audio world for concept experiments that run offline: each
    clip mixes one to ``max_sources`` sources synthesised from scratch (NumPy
    and SciPy, with eSpeak NG for speech) and is described by a caption
    written from its factors with varied templates and word orders. Because
    the factors are known, the concepts a model finds in a clip can be scored
    (see :mod:`sklearn_audioconcepts.faithfulness`).

    The factors (columns of ``factors``; ``"none"`` where a factor does not
    apply) are:

    - ``source``: the main (loudest) source: ``"speech"``, ``"sine tone"``,
      ``"square wave"``, ``"sawtooth wave"``, ``"plucked string"``,
      ``"bell"``, ``"siren"`` or ``"engine hum"``;
    - ``pitch``: ``"low"``, ``"mid"`` or ``"high"`` (fundamental of the
      main source; voice pitch for speech);
    - ``background``: a second, quieter source (9 to 14 dB below the main
      one): ``"white noise"``, ``"pink noise"``, ``"brown noise"``,
      ``"rain"`` (crackle), ``"wind"`` or ``"none"``;
    - ``event``: a third, short source below the main one: ``"knocking"``,
      ``"clicking"`` or ``"none"``;
    - ``loudness``: ``"loud"`` (peak near 0.9) or ``"quiet"`` (near 0.08);
    - ``effect``: ``"echo"``, ``"reverb"``, ``"muffled"`` (low-pass),
      ``"telephone"`` (300-3,400 Hz band, clipped) or ``"none"``;
    - ``language`` (``"English"``, ``"Spanish"``, ``"German"``,
      ``"French"``), ``voice`` (``"male"``, ``"female"``) and ``speed``
      (``"slow"``, ``"fast"``) of speech, ``"none"`` for other sources.

    Requires the ``espeak-ng`` program (Debian/Ubuntu:
    ``apt-get install espeak-ng``; macOS: ``brew install espeak-ng``). Its
    utterances are synthesised once per process and reused.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of clips.
    sample_rate : int, default=16000
        Sample rate of the clips, at least 8,000 Hz.
    duration : float, default=1.5
        Length of every clip in seconds, in [0.5, 10].
    max_sources : {1, 2, 3}, default=3
        Most sources in a clip; the number is drawn uniformly from 1 to
        ``max_sources`` (main source, then background, then event).
    n_short_captions : int, default=2
        Short captions per clip in ``short_captions`` (0 for none). They are
        drawn after everything else: the audio and the captions of a seed do
        not depend on this number.
    random_state : int, RandomState instance or None, default=None
        Seed of every choice and every noise; the same seed gives the same
        clips, captions and factors.

    Returns
    -------
    scenes : sklearn.utils.Bunch
        With keys:

        - ``audio``: list of ``n_samples`` 1-D float32 waveforms;
        - ``sample_rate``: their rate (int);
        - ``captions``: list of ``n_samples`` str, one caption per clip,
          naming every factor value that applies;
        - ``short_captions``: list of ``n_samples`` lists of
          ``n_short_captions`` str: keyword-style captions, after
          LAION-CLAP's keyword-to-caption augmentation, that name the main
          source and some of the clip's other values (``"quiet bell over
          rain"``). ``MiniCLAP.fit`` takes several captions per clip; trained
          on a clip's caption and its short captions, it learns what a
          source word means on its own, which concept phrases such as
          ``"loud siren"`` need;
        - ``factors``: pandas.DataFrame, one row per clip, one column per
          factor above, values short phrases;
        - ``concepts``: list of concept phrases (196): every factor value
          in the words the captions use for it (``"quiet"``, ``"with an
          echo"``, ``"German speech"``), compositions of the main source with
          one other value, the same for every source (``"high-pitched
          bell"``, ``"siren over rain"``), and distractors no clip has
          (``"dog barking"``, ``"Italian speech"``);
        - ``concept_factors``: dict concept -> ``{factor: value}`` that the
          concept asserts (a distractor asserts a value no clip has);
        - ``factor_values``: dict factor -> list of its values.

    Raises
    ------
    RuntimeError
        When speech is drawn and ``espeak-ng`` is not installed or fails.

    Examples
    --------
    >>> from sklearn_audioconcepts.datasets import make_sound_scenes
    >>> scenes = make_sound_scenes(4, random_state=0)
    >>> len(scenes.audio), scenes.sample_rate, scenes.audio[0].shape
    (4, 16000, (24000,))
    >>> list(scenes.factors.columns)[:4]
    ['source', 'pitch', 'background', 'event']
    >>> scenes.concept_factors["high-pitched bell"]
    {'source': 'bell', 'pitch': 'high'}
    """
    from ._sound_scenes import make_sound_scenes as _make_sound_scenes

    return _make_sound_scenes(
        n_samples,
        sample_rate=sample_rate,
        duration=duration,
        max_sources=max_sources,
        n_short_captions=n_short_captions,
        random_state=random_state,
    )
