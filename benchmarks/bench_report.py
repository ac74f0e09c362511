"""Size and writing time of the HTML report for a corpus of ``--n-clips`` clips.

The report's size is dominated by its audio excerpts (one per clip, shared by
every page that plays it), so it is measured on two kinds of audio:

* **speech**: utterances synthesised by eSpeak NG (3 languages), the demo's
  material (skipped when espeak-ng is not installed);
* **noise**: ``--seconds`` of broadband noise under a tone per clip, the
  worst case for Vorbis compression.

The embeddings are synthetic (their values do not change the size): one row
per clip in ``--n-features`` dimensions, shifted by language, and a TopK
sparse autoencoder with ``--n-latents`` latents is fitted on them for a few
epochs; the report scores the language attribute, so every latent page has
its AUC table and steering preview, and a vocabulary of ``--n-concepts``
random concepts gives the nearest-concept lists.

Run ``python benchmarks/bench_report.py`` (1,000 clips; ``--quick`` for a
smoke run of 30). Prints one line per kind and, with ``--json``, writes the
figures.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from sklearn_audioconcepts.report import write_report
except ImportError:  # run from a checkout where the package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sklearn_audioconcepts.report import write_report

from sklearn_audioconcepts import TopKSparseAutoencoder
from sklearn_audioconcepts.vocabulary import ConceptVocabulary

LANGUAGES = ("en", "es", "ru")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Measure the HTML report's size.")
    parser.add_argument("--n-clips", type=int, default=1000, help="[1000]")
    parser.add_argument("--n-latents", type=int, default=256, help="[256]")
    parser.add_argument("--n-features", type=int, default=256, help="[256]")
    parser.add_argument("--n-concepts", type=int, default=500, help="[500]")
    parser.add_argument("--seconds", type=float, default=6.0, help="noise clips [6]")
    parser.add_argument(
        "--kinds", nargs="+", default=["speech", "noise"], choices=["speech", "noise"]
    )
    parser.add_argument("--quick", action="store_true", help="30 clips, 32 latents")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_clips, args.n_latents, args.n_features = 30, 32, 32
        args.n_concepts, args.seconds = 50, 2.0
    return args


def speech_clips(n_clips, random_state=0):
    """About ``n_clips`` eSpeak NG utterances at 16 kHz and their languages."""
    from sklearn_audioconcepts.datasets import make_speech_corpus

    n_voices = max(1, int(np.ceil(n_clips / (len(LANGUAGES) * 10))))
    waves, metadata = make_speech_corpus(
        LANGUAGES, n_voices=n_voices, n_utterances=10, random_state=random_state
    )
    return waves[:n_clips], metadata["language"].to_numpy()[:n_clips], 16000


def noise_clips(n_clips, seconds, random_state=0):
    rng = np.random.default_rng(random_state)
    sample_rate = 16000
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    waves = [
        (
            0.2 * rng.standard_normal(t.size)
            + 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
        ).astype(np.float32)
        / 1.5
        for _ in range(n_clips)
    ]
    return waves, np.array(LANGUAGES)[np.arange(n_clips) % 3], sample_rate


def folder_bytes(folder, pattern="*"):
    return sum(p.stat().st_size for p in Path(folder).rglob(pattern) if p.is_file())


def measure(kind, args, workdir):
    start = time.perf_counter()
    if kind == "speech":
        waves, language, sample_rate = speech_clips(args.n_clips)
    else:
        waves, language, sample_rate = noise_clips(args.n_clips, args.seconds)
    prepare = time.perf_counter() - start
    n = len(waves)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, args.n_features)).astype(np.float32)
    for i, lang in enumerate(LANGUAGES):
        X[language == lang, i] += 3.0
    sae = TopKSparseAutoencoder(
        n_latents=args.n_latents,
        k=min(32, args.n_latents),
        max_epochs=5,
        device="cpu",
        progress=False,
        random_state=0,
    ).fit(X)
    vocabulary = ConceptVocabulary(
        [f"concept {i}" for i in range(args.n_concepts)],
        rng.standard_normal((args.n_concepts, args.n_features)),
    )
    output = Path(workdir) / kind
    start = time.perf_counter()
    write_report(
        sae,
        waves,
        output,
        X=X,
        sample_rate=sample_rate,
        labels={"language": language},
        vocabulary=vocabulary,
        progress=False,
    )
    seconds = time.perf_counter() - start
    total = folder_bytes(output)
    audio = folder_bytes(output / "audio")
    lengths = np.array([len(w) / sample_rate for w in waves])
    return {
        "kind": kind,
        "n_clips": n,
        "n_latents": args.n_latents,
        "mean_input_seconds": float(lengths.mean()),
        "prepare_s": prepare,
        "write_s": seconds,
        "total_mb": total / 1e6,
        "audio_mb": audio / 1e6,
        "pages_mb": folder_bytes(output, "*.html") / 1e6,
        "kb_per_clip": total / n / 1e3,
        "n_files": sum(1 for p in output.rglob("*") if p.is_file()),
    }


def main(argv=None):
    args = parse_args(argv)
    kinds = list(args.kinds)
    if "speech" in kinds and shutil.which("espeak-ng") is None:
        print("speech: skipped (espeak-ng is not installed)")
        kinds.remove("speech")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for kind in kinds:
            row = measure(kind, args, workdir)
            rows.append(row)
            print(
                f"{kind:>6}: {row['n_clips']} clips (mean "
                f"{row['mean_input_seconds']:.1f} s), {row['n_latents']} latents: "
                f"{row['total_mb']:.1f} MB "
                f"(audio {row['audio_mb']:.1f} MB, pages {row['pages_mb']:.1f} MB; "
                f"{row['kb_per_clip']:.1f} kB per clip, {row['n_files']} files), "
                f"written in {row['write_s']:.1f} s"
            )
    results = {
        "rows": rows,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(f"load average {results['load_average'][0]:.1f} on {results['cpus']} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
