"""How much does CLAPEmbedder's resampling change LAION-CLAP embeddings?

CLAPEmbedder resamples audio to 48 kHz with scipy's polyphase filter
(:func:`sklearn_audioconcepts.audio.resample`, ``resample_poly``);
laion-clap's own file path, ``CLAP_Module.get_audio_embedding_from_filelist``,
reads files with ``librosa.load(path, sr=48000)``, whose default resampler in
librosa 0.10 and later is ``soxr_hq``. Everything after resampling (16-bit
quantisation, repeat-padding to 10 s, the model) is the same on both sides,
so the cosine between the two embeddings of a file measures the resampling
alone.

For each kind of signal (eSpeak NG speech, or a speech-like signal when
``espeak-ng`` is missing; white noise; tones) and each file rate (16 kHz,
22.05 kHz, 44.1 kHz, and 48 kHz as the control where neither side
resamples), ``--n-clips`` clips of ``--seconds`` seconds are written as
16-bit WAV files and embedded both ways; the table gives the minimum and mean
cosine. As a scale for those figures it also gives the mean cosine between
*different* clips of the same kind: the closer that is to 1, the less the
model tells clips apart, and the less a cosine near 1 between the two paths
means.

The model is a real-size HTSAT-tiny laion-clap model with **random weights**
(``tests/_tiny_clap.py``, as in ``bench_clap.py``): no published checkpoint
can be downloaded offline. A trained model may be more or less sensitive to
the resampler than a random one; rerun with ``--checkpoint`` (and
``--text-model``) on a published checkpoint to measure it.

Run ``python benchmarks/bench_resampling.py`` (``--quick`` for a smoke run).
"""

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

RATES = (16_000, 22_050, 44_100, 48_000)
KINDS = ("speech", "noise", "tones")
RANDOM_WEIGHTS_NOTE = (
    "Model: real-size HTSAT-tiny laion-clap model with RANDOM weights (no "
    "published checkpoint is available offline); a trained model may react "
    "differently to the resampler."
)
_TINY_CLAP = Path(__file__).resolve().parents[1] / "tests" / "_tiny_clap.py"


def _tiny_clap_module():
    spec = importlib.util.spec_from_file_location("_tiny_clap", _TINY_CLAP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _speech_like(n_samples, sample_rate, rng):
    """Voiced, syllable-rate modulated harmonics with formant-like peaks."""
    t = np.arange(n_samples) / sample_rate
    pitch = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    formants = rng.uniform([500, 1200, 2500], [900, 2000, 3500])
    signal = np.zeros(n_samples)
    for harmonic in range(1, 40):
        frequency = harmonic * pitch.mean()
        if frequency >= sample_rate / 2:
            break
        gain = sum(np.exp(-(((frequency - f) / 250) ** 2)) for f in formants)
        signal += (0.2 + gain) / harmonic * np.sin(harmonic * phase)
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t), 0, None)
    signal = signal * syllables + 0.01 * rng.standard_normal(n_samples)
    return signal


def make_signals(kind, n_clips, seconds, sample_rate, seed=0):
    """``n_clips`` mono float waveforms in [-1, 1] of one kind at ``sample_rate``.

    Returns the waveforms and what they are (``"eSpeak NG"`` or
    ``"speech-like"`` for speech).
    """
    rng = np.random.default_rng([seed, KINDS.index(kind), sample_rate])
    n = int(round(seconds * sample_rate))
    source = kind
    if kind == "speech":
        if shutil.which("espeak-ng") or shutil.which("espeak"):
            from sklearn_audioconcepts.datasets import make_speech_corpus

            waveforms, _ = make_speech_corpus(
                ("en", "es", "de", "fr"),
                n_voices=1,
                n_utterances=-(-n_clips // 4),
                sample_rate=sample_rate,
                random_state=seed,
            )
            clips = [np.resize(w, n) if len(w) < n else w[:n] for w in waveforms]
            clips, source = clips[:n_clips], "eSpeak NG"
        else:
            clips = [_speech_like(n, sample_rate, rng) for _ in range(n_clips)]
            source = "speech-like (espeak-ng not installed)"
    elif kind == "noise":
        clips = [rng.standard_normal(n) for _ in range(n_clips)]
    else:  # tones: a chord of partials up to near the file's Nyquist frequency
        t = np.arange(n) / sample_rate
        clips = []
        for _ in range(n_clips):
            top = 0.45 * sample_rate
            partials = np.exp(rng.uniform(np.log(100), np.log(top), size=5))
            clips.append(sum(np.sin(2 * np.pi * f * t) for f in partials))
    peak = 0.5
    clips = [peak * c / np.abs(c).max() for c in clips]
    return [c.astype(np.float32) for c in clips], source


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _mean_between(rows):
    """Mean cosine between different rows (NaN for a single row)."""
    rows = _unit(rows)
    if len(rows) < 2:
        return float("nan")
    gram = rows @ rows.T
    return float(gram[~np.eye(len(rows), dtype=bool)].mean())


def run(args):
    import librosa
    import soundfile
    import torch

    from sklearn_audioconcepts.clap import CLAPEmbedder

    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="bench_resampling_"))
    if args.checkpoint is None:
        paths = _tiny_clap_module().build_tiny_clap(workdir)
        model = {
            "checkpoint": paths["checkpoint"],
            "audio_model": paths["audio_model"],
            "text_model": paths["text_model"],
        }
        description = "HTSAT-tiny, random weights (tests/_tiny_clap.py)"
    else:
        model = {"checkpoint": args.checkpoint, "text_model": args.text_model}
        description = str(args.checkpoint)
    embedder = CLAPEmbedder(
        **model, device="cpu", batch_size=args.batch_size, progress=False
    )
    # The option that resamples as librosa.load does: should close the gap.
    matching = CLAPEmbedder(
        **model,
        device="cpu",
        batch_size=args.batch_size,
        progress=False,
        resampler="librosa",
    )
    backend = embedder._backend()
    if backend.family != "laion":
        raise SystemExit(
            f"{description} is a {backend.family!r} model; this benchmark compares "
            "against laion-clap's get_audio_embedding_from_filelist (laion only)."
        )
    module = backend.module
    rows, sources = [], {}
    for kind in args.kinds:
        for rate in args.rates:
            clips, sources[kind] = make_signals(
                kind, args.n_clips, args.seconds, rate, seed=args.seed
            )
            files = []
            for index, clip in enumerate(clips):
                path = workdir / f"{kind}-{rate}-{index}.wav"
                soundfile.write(path, clip, rate, subtype="PCM_16")
                files.append(str(path))
            ours = _unit(embedder.transform(files))
            with torch.inference_mode():
                theirs = _unit(module.get_audio_embedding_from_filelist(files))
            cosines = np.sum(ours * theirs, axis=1)
            matched = np.sum(_unit(matching.transform(files)) * theirs, axis=1)
            rows.append(
                {
                    "kind": kind,
                    "sample_rate": rate,
                    "n_clips": len(files),
                    "min_cosine": float(cosines.min()),
                    "mean_cosine": float(cosines.mean()),
                    "librosa_option_min_cosine": float(matched.min()),
                    "between_clips": _mean_between(ours),
                }
            )
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "librosa": librosa.__version__,
            "librosa_res_type": "soxr_hq (librosa.load default)",
        },
        "settings": {
            "n_clips": args.n_clips,
            "seconds": args.seconds,
            "model": description,
            "random_weights": args.checkpoint is None,
            "speech": sources.get("speech"),
        },
        "results": rows,
        "worst_min_cosine": min(
            row["min_cosine"] for row in rows if row["sample_rate"] != 48_000
        )
        if any(row["sample_rate"] != 48_000 for row in rows)
        else None,
    }


def format_table(report):
    settings, machine = report["settings"], report["machine"]
    lines = [
        "Cosine between CLAPEmbedder(...).transform(files) (scipy resample_poly) "
        "and laion-clap get_audio_embedding_from_filelist(files) (librosa.load, "
        f"{machine['librosa_res_type']}, librosa {machine['librosa']})",
        f"{settings['n_clips']} clips x {settings['seconds']} s per kind and "
        f"rate, 16-bit WAV; model: {settings['model']}",
    ]
    if settings["random_weights"]:
        lines.append(RANDOM_WEIGHTS_NOTE)
    if settings["speech"]:
        lines.append(f"speech: {settings['speech']}")
    lines.append(
        f"{'kind':<8}{'rate (Hz)':>10}{'min cos':>12}{'mean cos':>12}"
        f"{'between clips':>15}{'resampler=librosa min':>23}"
    )
    for row in report["results"]:
        control = "  (no resampling: control)" if row["sample_rate"] == 48_000 else ""
        lines.append(
            f"{row['kind']:<8}{row['sample_rate']:>10}{row['min_cosine']:>12.6f}"
            f"{row['mean_cosine']:>12.6f}{row['between_clips']:>15.4f}"
            f"{row['librosa_option_min_cosine']:>23.6f}{control}"
        )
    if report["worst_min_cosine"] is not None:
        lines.append(
            f"worst cosine where resampling happens: {report['worst_min_cosine']:.6f}"
        )
    lines.append(
        "'between clips': mean cosine between different clips of the same kind "
        "and rate (our path), the scale the gap should be read against; "
        "'resampler=librosa min': min cosine with CLAPEmbedder(resampler="
        "'librosa')."
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--rates", type=int, nargs="+", default=list(RATES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--checkpoint", help="a laion-clap checkpoint (default: "
                        "the random-weight test model)")  # fmt: skip
    parser.add_argument("--text-model", help="RoBERTa folder for --checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 clips of 1 s, noise and tones at 22.05 and 48 kHz",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_clips, args.seconds = 2, 1.0
        args.kinds, args.rates = ["noise", "tones"], [22_050, 48_000]
    report = run(args)
    report["table"] = format_table(report)
    print(report["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
