"""A controlled sound world with known generative factors (``make_sound_scenes``).

Every clip is drawn from a handful of named factors (main source, pitch,
background, a short event, loudness, an effect and, for speech, language,
voice and speed), synthesised from scratch with NumPy/SciPy (and eSpeak NG
for speech), and described by a caption written from those factors with
varied templates and word orders. The concept list names every factor value,
compositions of two values, and distractors that no clip has, each with the
factor values it asserts, so that concept decompositions can be scored
against the truth.
"""

import functools
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import signal
from sklearn.utils import Bunch, check_random_state

# Factor -> its values. "none" means the factor does not apply to the clip
# (no background, not speech, ...). The main source is the loudest one.
SOURCES = (
    "speech", "sine tone", "square wave", "sawtooth wave", "plucked string",
    "bell", "siren", "engine hum",
)  # fmt: skip
BACKGROUNDS = ("none", "white noise", "pink noise", "brown noise", "rain", "wind")
EVENTS = ("none", "knocking", "clicking")
PITCHES = ("low", "mid", "high")
LOUDNESS = ("loud", "quiet")
EFFECTS = ("none", "echo", "reverb", "muffled", "telephone")
LANGUAGES = {"English": "en", "Spanish": "es", "German": "de", "French": "fr"}
VOICES = {"male": "m3", "female": "f2"}
SPEEDS = {"slow": 120, "fast": 230}

FACTORS = {
    "source": SOURCES,
    "pitch": PITCHES,
    "background": BACKGROUNDS,
    "event": EVENTS,
    "loudness": LOUDNESS,
    "effect": EFFECTS,
    "language": ("none", *LANGUAGES),
    "voice": ("none", *VOICES),
    "speed": ("none", *SPEEDS),
}

# Fundamental frequency ranges (Hz) of the tonal sources per pitch.
_PITCH_HZ = {"low": (110.0, 200.0), "mid": (300.0, 550.0), "high": (900.0, 1600.0)}
_ENGINE_HZ = {"low": (30.0, 45.0), "mid": (60.0, 90.0), "high": (130.0, 180.0)}
_ESPEAK_PITCH = {"low": 15, "mid": 50, "high": 85}
_PEAK = {"loud": 0.9, "quiet": 0.08}
# Levels of the other sources relative to the main one, in dB (RMS).
_BACKGROUND_DB = (-14.0, -9.0)
_EVENT_DB = (-12.0, -7.0)

# Short sentences read by eSpeak NG; a small pool per language is synthesised
# once per process and reused (cropped) by every speech clip.
_SPEECH_TEXTS = {
    "en": (
        "The weather was lovely this morning.",
        "Could you tell me where the station is?",
        "We are going to cook dinner tonight.",
    ),
    "es": (
        "Hace muy buen tiempo hoy por la tarde.",
        "Mi hermana compró una bicicleta nueva.",
        "Esta noche vamos a cocinar juntos.",
    ),
    "de": (
        "Das Wetter ist heute wunderschön.",
        "Können Sie mir bitte den Weg zeigen?",
        "Heute Abend kochen wir zusammen.",
    ),
    "fr": (
        "Il fait très beau aujourd'hui en ville.",
        "Pourriez-vous me dire où est la gare?",
        "Ce soir, nous allons préparer le dîner.",
    ),
}

# -- captions ----------------------------------------------------------------

_SOURCE_NOUNS = {
    "speech": None,  # written from language, voice and speed
    "sine tone": ("sine tone", "pure sine tone"),
    "square wave": ("square wave", "square wave tone"),
    "sawtooth wave": ("sawtooth wave", "buzzing sawtooth wave"),
    "plucked string": ("plucked string", "string being plucked"),
    "bell": ("bell", "ringing bell"),
    "siren": ("siren", "wailing siren"),
    "engine hum": ("engine hum", "humming engine"),
}
_PITCH_WORDS = {"low": "low-pitched", "mid": "mid-pitched", "high": "high-pitched"}
_BACKGROUND_CLAUSES = (
    "over {}",
    "with {} in the background",
    "against a background of {}",
    "and {} behind it",
)
_EVENT_CLAUSES = ("with some {}", "with occasional {}", "and {} now and then")
_EFFECT_CLAUSES = {
    "echo": ("with an echo", "echoing"),
    "reverb": ("with reverb", "in a reverberant hall"),
    "muffled": ("muffled", "sounding muffled"),
    "telephone": ("through a telephone", "over a telephone line"),
}
_LOUDNESS_WORDS = {"loud": ("loud", "loudly"), "quiet": ("quiet", "quietly")}
# "sound" is in the openings so that the word the concept phrases ("loud
# sound") and the zero-shot prompts ("This is a sound of ...") use is one the
# text tower has learned, not an unknown word with a random embedding.
_OPENINGS = (
    "", "the sound of ", "you can hear ", "a recording of ", "this is a sound of ",
)  # fmt: skip


def _article(phrase):
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption(row, rng):
    """One free-text caption of a clip's factors, from varied templates."""
    loud_adjective, loud_adverb = _LOUDNESS_WORDS[row["loudness"]]
    pitch = _PITCH_WORDS[row["pitch"]]
    if row["source"] == "speech":
        speaker = "man" if row["voice"] == "male" else "woman"
        speed = "slowly" if row["speed"] == "slow" else "fast"
        # Every template names the source ("speech"), as the other sources'
        # captions do, so that the word carries the source.
        options = (
            f"{row['language']} speech from {_article(pitch)} {row['voice']} "
            f"voice, spoken {speed}",
            f"speech of {_article(speaker)} talking {row['language']} {speed} "
            f"in a {pitch} voice",
            f"{row['speed']} {row['language']} speech by {_article(pitch)} "
            f"{row['voice']} speaker",
            f"{pitch} {row['language']} speech, {row['voice']} voice, {row['speed']}",
        )
        main = options[rng.randint(len(options))]
        if rng.rand() < 0.5:
            main = f"{loud_adjective} {main}"
        else:
            main = f"{main}, {loud_adverb}"
    else:
        noun = _SOURCE_NOUNS[row["source"]][rng.randint(2)]
        if rng.rand() < 0.5:
            main = _article(f"{loud_adjective} {pitch} {noun}")
        else:
            main = f"{_article(f'{pitch} {noun}')} playing {loud_adverb}"
    clauses = []
    if row["background"] != "none":
        template = _BACKGROUND_CLAUSES[rng.randint(len(_BACKGROUND_CLAUSES))]
        clauses.append(template.format(row["background"]))
    if row["event"] != "none":
        template = _EVENT_CLAUSES[rng.randint(len(_EVENT_CLAUSES))]
        clauses.append(template.format(row["event"]))
    if row["effect"] != "none":
        options = _EFFECT_CLAUSES[row["effect"]]
        clauses.append(options[rng.randint(len(options))])
    rng.shuffle(clauses)
    text = _OPENINGS[rng.randint(len(_OPENINGS))] + ", ".join([main, *clauses])
    if clauses and rng.rand() < 0.3:
        # Another word order: the context first, then the main sound.
        text = ", ".join([clauses[0], main, *clauses[1:]])
    return text[0].upper() + text[1:] + "."


def _keywords_of(row, rng):
    """One short phrase per factor value of a clip (the words of its captions)."""
    words = {}
    if row["source"] == "speech":
        words["source"] = "speech"
        words["language"] = f"{row['language']} speech"
        words["voice"] = (
            f"{row['voice']} voice"
            if rng.rand() < 0.5
            else ("man" if row["voice"] == "male" else "woman")
        )
        words["speed"] = (
            f"{row['speed']} speech"
            if rng.rand() < 0.5
            else f"spoken {'slowly' if row['speed'] == 'slow' else 'fast'}"
        )
    else:
        words["source"] = _SOURCE_NOUNS[row["source"]][rng.randint(2)]
    words["pitch"] = _PITCH_WORDS[row["pitch"]]
    words["loudness"] = _LOUDNESS_WORDS[row["loudness"]][0]
    if row["background"] != "none":
        templates = ("{}", *_BACKGROUND_CLAUSES)
        words["background"] = templates[rng.randint(len(templates))].format(
            row["background"]
        )
    if row["event"] != "none":
        templates = ("{}", *_EVENT_CLAUSES)
        words["event"] = templates[rng.randint(len(templates))].format(row["event"])
    if row["effect"] != "none":
        options = _EFFECT_CLAUSES[row["effect"]]
        words["effect"] = options[rng.randint(len(options))]
    return words


def short_caption(row, rng):
    """A short caption: the main source and a few of the clip's other values.

    After LAION-CLAP's keyword-to-caption augmentation: a few words ("quiet
    bell over rain", "speech, German speech, fast") that always name the main
    source and 1 or more of the clip's other factor values, in any order.
    Trained on beside the full captions, they teach a model that a source
    word carries its source on its own: in full speech captions "speech"
    always comes with the language, voice and speed, and a model trained on
    those alone reads "loud speech" as little more than "loud".
    """
    words = _keywords_of(row, rng)
    others = [factor for factor in words if factor != "source"]
    size = rng.randint(1, len(others) + 1)
    chosen = ["source"] + [others[i] for i in rng.permutation(len(others))[:size]]
    parts = [words[factor] for factor in chosen]
    order = rng.permutation(len(parts))
    separator = ", " if rng.rand() < 0.3 else " "
    return separator.join(parts[i] for i in order)


# -- concepts ----------------------------------------------------------------

# Plausible sounds and qualities that no clip of this world has: each asserts
# a factor value outside the world, so it is never right.
_DISTRACTORS = {
    "source": (
        "dog barking", "cat meowing", "birdsong", "piano", "acoustic guitar",
        "violin", "drums", "trumpet", "flute", "applause", "laughter",
        "baby crying", "car horn", "door slam", "glass breaking", "church bells",
        "singing", "whistling", "coughing", "footsteps", "keyboard typing",
        "helicopter", "train", "vacuum cleaner", "chainsaw",
    ),
    "background": (
        "thunder", "ocean waves", "crowd chatter", "traffic noise", "running water",
    ),
    "effect": ("distortion", "chorus effect", "reversed audio"),
    "language": ("Italian", "Russian", "Japanese"),
}  # fmt: skip


def concepts():
    """The concept phrases and the factor values each asserts."""
    table = {}

    def add(phrase, **asserted):
        table.setdefault(phrase, asserted)

    for source in SOURCES:
        add(source, source=source)
    # A single value is named by the words the captions use for it
    # ("quiet", "with an echo"), not by a phrase around "sound": in the
    # captions "sound" belongs to openings such as "the sound of" and names
    # nothing, and a text tower that averages words reads "quiet sound" as
    # half "quiet", half that opening (benchmark top-3 concept precision
    # 0.707 with "... sound" phrases, 0.743 with the bare words).
    for pitch in PITCHES:
        add(_PITCH_WORDS[pitch], pitch=pitch)
    for background in BACKGROUNDS[1:]:
        add(background, background=background)
    for event in EVENTS[1:]:
        add(event, event=event)
    for loudness in LOUDNESS:
        add(loudness, loudness=loudness)
    for effect, clauses in _EFFECT_CLAUSES.items():
        add(clauses[0], effect=effect)
    for language in LANGUAGES:
        add(f"{language} speech", source="speech", language=language)
    for voice in VOICES:
        add(f"{voice} voice", source="speech", voice=voice)
    for speed in SPEEDS:
        add(f"{speed} speech", source="speech", speed=speed)

    # Compositions of two values, the same ones for every source. Speech
    # already has 8 phrases of its own (language, voice, speed); the 16
    # three-value speech phrases this list once had ("German speech by a
    # male voice") made 44 of 212 phrases speech and pulled the vocabulary
    # mean, which ConceptDecomposer centres concepts on, toward "speech"
    # (cosine 0.73; 0.51 without them): after centring "loud speech" meant
    # little more than "loud" and won the top concepts of loud sirens
    # (precision 0.714 with them, 0.740 with them kept but left out of the
    # mean, 0.743 without).
    for source in SOURCES:
        for pitch in PITCHES:
            add(f"{_PITCH_WORDS[pitch]} {source}", source=source, pitch=pitch)
        for background in BACKGROUNDS[1:]:
            add(f"{source} over {background}", source=source, background=background)
        for event in EVENTS[1:]:
            add(f"{source} with {event}", source=source, event=event)
        for loudness in LOUDNESS:
            add(f"{loudness} {source}", source=source, loudness=loudness)
        for effect, clauses in _EFFECT_CLAUSES.items():
            add(f"{source} {clauses[0]}", source=source, effect=effect)
    for factor, phrases in _DISTRACTORS.items():
        for phrase in phrases:
            value = phrase
            if factor == "language":
                phrase = f"{phrase} speech"
                add(phrase, source="speech", language=value)
            else:
                add(phrase, **{factor: value})
    return list(table), table


# -- synthesis ---------------------------------------------------------------


def _envelope(n, sample_rate, attack=0.01, release=0.05):
    env = np.ones(n, dtype=np.float64)
    a = max(1, int(attack * sample_rate))
    r = max(1, int(release * sample_rate))
    env[:a] = np.linspace(0.0, 1.0, a)
    env[-r:] = np.minimum(env[-r:], np.linspace(1.0, 0.0, r))
    return env


def _colored_noise(rng, n, exponent):
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    spectrum *= freqs ** (-exponent / 2.0)
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.std(noise) + 1e-12)


def _tone(kind, f0, t, rng):
    vibrato = 1.0 + 0.004 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / (len(t) / t[-1])
    if kind == "sine tone":
        return np.sin(phase)
    if kind == "square wave":
        return signal.square(phase)
    return signal.sawtooth(phase)


def _plucked(f0, t, sample_rate, rng):
    out = np.zeros_like(t)
    n_notes = rng.randint(1, 4)
    starts = np.sort(rng.uniform(0, 0.6 * t[-1], n_notes))
    starts[0] = 0.0
    for start in starts:
        f = f0 * 2 ** (rng.randint(-3, 4) / 12)
        tau = np.clip(t - start, 0, None)
        on = t >= start
        k = np.arange(1, 9)[:, None]
        partials = (
            (1.0 / k) * np.exp(-tau * 3.0 * k) * np.sin(2 * np.pi * f * k * tau)
        ).sum(axis=0)
        out += on * partials
    return out


def _bell(f0, t, rng):
    ratios = np.array([1.0, 2.76, 5.40, 8.93])[:, None]
    amps = np.array([1.0, 0.6, 0.4, 0.25])[:, None]
    decay = np.array([1.5, 2.5, 4.0, 6.0])[:, None]
    start = rng.uniform(0, 0.1)
    tau = np.clip(t - start, 0, None)
    return (
        (t >= start)
        * amps
        * np.exp(-decay * tau)
        * np.sin(2 * np.pi * f0 * ratios * tau)
    ).sum(axis=0)


def _siren(f0, t, sample_rate, rng):
    rate = rng.uniform(0.6, 1.2)
    freq = f0 * (1.0 + 0.35 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.28)))
    return np.sin(2 * np.pi * np.cumsum(freq) / sample_rate)


def _engine(f0, t, sample_rate, rng):
    k = np.arange(1, 7)[:, None]
    hum = (np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28, (6, 1))) / k).sum(0)
    rumble = _lowpass(_colored_noise(rng, len(t), 1.0), 4 * f0, sample_rate)
    modulation = 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(8, 15) * t)
    return modulation * (hum + 0.3 * rumble)


def _lowpass(x, cutoff, sample_rate, order=4):
    cutoff = min(cutoff, 0.45 * sample_rate)
    sos = signal.butter(order, cutoff, "lowpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, x)


def _bandpass(x, low, high, sample_rate, order=4):
    high = min(high, 0.45 * sample_rate)
    sos = signal.butter(order, [low, high], "bandpass", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, x)


def _impulses(rng, n, sample_rate, times, resonance, decay, width):
    """Decaying resonant bursts (knocks, clicks, raindrops) at ``times`` (s)."""
    out = np.zeros(n)
    length = int(width * sample_rate)
    tt = np.arange(length) / sample_rate
    burst = np.exp(-tt / decay) * np.sin(2 * np.pi * resonance * tt)
    for time in times:
        start = int(time * sample_rate)
        stop = min(n, start + length)
        out[start:stop] += burst[: stop - start] * rng.uniform(0.6, 1.0)
    return out


def _background(kind, rng, n, sample_rate):
    t = np.arange(n) / sample_rate
    if kind == "white noise":
        return _colored_noise(rng, n, 0.0)
    if kind == "pink noise":
        return _colored_noise(rng, n, 1.0)
    if kind == "brown noise":
        return _colored_noise(rng, n, 2.0)
    if kind == "rain":
        drops = rng.uniform(0, n / sample_rate, int(rng.uniform(60, 120) * t[-1]))
        crackle = _impulses(rng, n, sample_rate, drops, 3000.0, 0.002, 0.01)
        hiss = _bandpass(_colored_noise(rng, n, 0.0), 2000, 7000, sample_rate)
        return crackle / (np.std(crackle) + 1e-12) + 0.5 * hiss
    # wind: low-passed noise whose level swells and falls slowly
    gust = 1.0 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.rand() * 6)
    return gust * _lowpass(_colored_noise(rng, n, 1.0), 500.0, sample_rate)


def _event(kind, rng, n, sample_rate):
    duration = n / sample_rate
    if kind == "knocking":
        count = rng.randint(2, 5)
        start = rng.uniform(0.05, 0.3 * duration)
        times = start + np.arange(count) * rng.uniform(0.15, 0.25)
        times = times[times < duration - 0.05]
        return _impulses(rng, n, sample_rate, times, 180.0, 0.015, 0.08)
    count = rng.randint(4, 9)
    times = np.sort(rng.uniform(0.0, duration - 0.01, count))
    return _impulses(rng, n, sample_rate, times, 4000.0, 0.0005, 0.004)


def _apply_effect(kind, x, rng, sample_rate):
    if kind == "echo":
        delay = int(rng.uniform(0.15, 0.25) * sample_rate)
        out = x.copy()
        for repeat, gain in ((1, 0.6), (2, 0.35)):
            out[repeat * delay :] += gain * x[: len(x) - repeat * delay]
        return out
    if kind == "reverb":
        length = int(0.5 * sample_rate)
        tt = np.arange(length) / sample_rate
        response = rng.standard_normal(length) * np.exp(-tt / 0.12)
        response[0] = 1.0
        return signal.fftconvolve(x, response)[: len(x)] / 3.0
    if kind == "muffled":
        return _lowpass(x, 700.0, sample_rate, order=6)
    if kind == "telephone":
        band = _bandpass(x, 300.0, 3400.0, sample_rate)
        return np.tanh(3.0 * band / (np.abs(band).max() + 1e-12))
    return x


def _rms(x):
    return float(np.sqrt(np.mean(x**2))) + 1e-12


@functools.cache
def _speech_utterance(language, voice, speed, pitch, text_index):
    """A synthesised sentence at 16 kHz (cached: eSpeak NG is deterministic)."""
    from .datasets import _espeak, _espeak_executable, _to_rate

    samples = _espeak(
        _espeak_executable(),
        _SPEECH_TEXTS[LANGUAGES[language]][text_index],
        f"{LANGUAGES[language]}+{VOICES[voice]}",
        _ESPEAK_PITCH[pitch],
        SPEEDS[speed],
    )
    return _to_rate(samples, 16000)


def _speech(row, rng, n, sample_rate):
    from .audio import resample

    utterance = _speech_utterance(
        row["language"], row["voice"], row["speed"], row["pitch"],
        rng.randint(len(_SPEECH_TEXTS["en"])),
    )  # fmt: skip
    if sample_rate != 16000:
        utterance = resample(utterance, 16000, sample_rate)
    # Skip eSpeak's leading silence, then start anywhere in the first part.
    voiced = np.flatnonzero(np.abs(utterance) > 0.02)
    first = voiced[0] if len(voiced) else 0
    start = first + rng.randint(0, max(1, (len(utterance) - first - n) // 2 + 1))
    piece = np.asarray(utterance[start : start + n], dtype=np.float64)
    return np.pad(piece, (0, n - len(piece)))


def _main_source(row, rng, n, sample_rate):
    t = np.arange(n) / sample_rate
    source = row["source"]
    if source == "speech":
        return _speech(row, rng, n, sample_rate)
    if source == "engine hum":
        return _engine(rng.uniform(*_ENGINE_HZ[row["pitch"]]), t, sample_rate, rng)
    f0 = rng.uniform(*_PITCH_HZ[row["pitch"]])
    if source in ("sine tone", "square wave", "sawtooth wave"):
        return _tone(source, f0, t, rng) * _envelope(n, sample_rate)
    if source == "plucked string":
        return _plucked(f0, t, sample_rate, rng)
    if source == "bell":
        return _bell(f0, t, rng)
    return _siren(f0, t, sample_rate, rng) * _envelope(n, sample_rate)


def draw_factors(rng, n_samples, max_sources):
    """One row of factor values per clip (a DataFrame)."""
    columns = {
        "source": rng.choice(SOURCES, n_samples),
        "pitch": rng.choice(PITCHES, n_samples),
        "background": rng.choice(BACKGROUNDS[1:], n_samples),
        "event": rng.choice(EVENTS[1:], n_samples),
        "loudness": rng.choice(LOUDNESS, n_samples),
        "effect": rng.choice(EFFECTS, n_samples),
        "language": rng.choice(list(LANGUAGES), n_samples),
        "voice": rng.choice(list(VOICES), n_samples),
        "speed": rng.choice(list(SPEEDS), n_samples),
    }
    # 1 to max_sources sources per clip: the main one, then a background,
    # then an event.
    n_sources = rng.randint(1, max_sources + 1, n_samples)
    columns["background"] = np.where(n_sources >= 2, columns["background"], "none")
    columns["event"] = np.where(n_sources >= 3, columns["event"], "none")
    speech = columns["source"] == "speech"
    for factor in ("language", "voice", "speed"):
        columns[factor] = np.where(speech, columns[factor], "none")
    return pd.DataFrame({name: columns[name].astype(object) for name in FACTORS})


def synthesise(row, rng, n, sample_rate):
    """The waveform of one clip (float32, peak as its loudness says)."""
    main = _main_source(row, rng, n, sample_rate)
    main_rms = _rms(main)
    mix = main.copy()
    if row["background"] != "none":
        background = _background(row["background"], rng, n, sample_rate)
        gain = 10 ** (rng.uniform(*_BACKGROUND_DB) / 20) * main_rms / _rms(background)
        mix += gain * background
    if row["event"] != "none":
        event = _event(row["event"], rng, n, sample_rate)
        # Transients are compared by their peak: a knock at the main level
        # would dominate a quiet bell; the event stays below the main source.
        gain = 10 ** (rng.uniform(*_EVENT_DB) / 20) * np.abs(main).max()
        mix += gain * event / (np.abs(event).max() + 1e-12)
    mix = _apply_effect(row["effect"], mix, rng, sample_rate)
    peak = _PEAK[row["loudness"]] * rng.uniform(0.8, 1.0)
    mix *= peak / (np.abs(mix).max() + 1e-12)
    return mix.astype(np.float32)


def make_sound_scenes(
    n_samples=1000,
    *,
    sample_rate=16000,
    duration=1.5,
    max_sources=3,
    n_short_captions=2,
    random_state=None,
):
    """Implementation of :func:`sklearn_audioconcepts.datasets.make_sound_scenes`."""
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if not isinstance(sample_rate, Integral) or sample_rate < 8000:
        raise ValueError(
            f"sample_rate must be an integer of at least 8000 Hz (the telephone "
            f"band and the rain reach 7 kHz), got {sample_rate!r}."
        )
    if not isinstance(duration, Real) or not 0.5 <= duration <= 10:
        raise ValueError(f"duration must be in [0.5, 10] seconds, got {duration!r}.")
    if not isinstance(max_sources, Integral) or not 1 <= max_sources <= 3:
        raise ValueError(f"max_sources must be 1, 2 or 3, got {max_sources!r}.")
    if not isinstance(n_short_captions, Integral) or n_short_captions < 0:
        raise ValueError(
            f"n_short_captions must be a nonnegative integer, got {n_short_captions!r}."
        )
    rng = check_random_state(random_state)
    factors = draw_factors(rng, n_samples, max_sources)
    n = int(round(duration * sample_rate))
    audio, captions = [], []
    for row in factors.to_dict("records"):
        audio.append(synthesise(row, rng, n, sample_rate))
        captions.append(caption(row, rng))
    # Drawn last, so that the audio and captions of a seed do not depend on
    # n_short_captions.
    short = [
        [short_caption(row, rng) for _ in range(n_short_captions)]
        for row in factors.to_dict("records")
    ]
    names, asserted = concepts()
    return Bunch(
        audio=audio,
        sample_rate=int(sample_rate),
        captions=captions,
        short_captions=short,
        factors=factors,
        concepts=names,
        concept_factors={name: dict(asserted[name]) for name in names},
        factor_values={name: list(values) for name, values in FACTORS.items()},
    )
