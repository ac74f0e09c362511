"""Peak memory of embedding one long audio file, against a 10 s clip.

Long files are read in blocks and their windows (CLAP) or segments (speaker
embedders) embedded as they are read, so peak memory should not grow with a
file's length. This benchmark writes synthetic speech-like 16 kHz WAV files
of ``--minutes`` minutes (16-bit, as recorders write them) to a temporary
folder and, for each model and length, starts a fresh Python process that

1. loads the embedder, embeds a 10 s clip once to warm up, then again: the
   peak resident memory of that call is the **baseline**;
2. embeds a full batch of 10 s clips (``batch_size`` of them): the
   **batch baseline**, the memory a forward pass of a full batch needs;
3. embeds the long file: the **peak**.

Each figure is the peak resident set (``VmHWM``) of that call alone, reset
between calls through ``/proc/self/clear_refs`` on Linux (elsewhere the
process's running peak, ``ru_maxrss``).

It reports ``peak - baseline`` and ``peak - batch baseline`` (MB) and the
time taken. The target is a peak within ~300 MB of the baseline whatever
the length, i.e. the same figure for every ``--minutes``.

Models: ``resemblyzer`` (its pretrained encoder ships with its wheel) and
``clap`` (a real-size HTSAT-tiny audio encoder with random weights, built by
laion-clap's classes from ``tests/_tiny_clap.py``; weights do not change the
cost). The machine's other load does not change memory figures, only times.

Run ``python benchmarks/bench_long_audio.py`` (10 and 60 minutes, both
models; minutes of CPU time), or ``--quick`` for a smoke run (3 and 5
minutes, Resemblyzer only, both read in two-minute segments; a minute or two).
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

SAMPLE_RATE = 16_000
_TINY_CLAP = Path(__file__).resolve().parents[1] / "tests" / "_tiny_clap.py"


def speech_like(n_samples, *, offset=0, sample_rate=SAMPLE_RATE):
    """Voiced harmonics through two formants with syllable-rate bursts.

    Voice-activity detection takes it for speech; ``offset`` (in samples)
    continues the signal, so a long file can be written block by block.
    """
    t = (offset + np.arange(n_samples)) / sample_rate
    f0 = 120.0 + 20.0 * np.sin(2 * np.pi * 0.05 * t)  # a slowly gliding pitch
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    signal = np.zeros(n_samples)
    for harmonic in range(1, 25):
        frequency = harmonic * f0
        gain = np.exp(-(((frequency - 700) / 150) ** 2)) + 0.6 * np.exp(
            -(((frequency - 1200) / 200) ** 2)
        )
        signal += gain * np.sin(harmonic * phase)
    signal *= 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.1 * signal).astype(np.float32)


def write_long_wav(path, seconds, *, block_seconds=60):
    """Write ``seconds`` of speech-like audio without holding it in memory."""
    import soundfile

    n_total = int(seconds * SAMPLE_RATE)
    with soundfile.SoundFile(
        path, "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16"
    ) as handle:
        for start in range(0, n_total, block_seconds * SAMPLE_RATE):
            n = min(block_seconds * SAMPLE_RATE, n_total - start)
            handle.write(speech_like(n, offset=start))
    return path


def _tiny_clap_paths(directory):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tiny_clap", _TINY_CLAP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    directory.mkdir(parents=True, exist_ok=True)
    return module.build_tiny_clap(directory)


def _reset_peak():
    """Start a new peak: Linux resets VmHWM when 5 is written to clear_refs."""
    # Elsewhere the peak stays the process's running peak.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb():
    """Peak resident memory (MB) since the last ``_reset_peak``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(spec):
    """In a fresh process: baseline, batch baseline and peak for one long file."""
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    if spec["model"] == "clap":
        from sklearn_audioconcepts.clap import CLAPEmbedder

        embedder = CLAPEmbedder(device="cpu", progress=False, **spec["clap_paths"])
    else:
        from sklearn_audioconcepts.speaker import ResemblyzerEmbedder

        embedder = ResemblyzerEmbedder(device="cpu", progress=False)
    if spec["batch_size"]:
        embedder.set_params(batch_size=spec["batch_size"])
    embedder.transform([spec["clip"]])  # loads the model, warms caches up
    _reset_peak()
    embedder.transform([spec["clip"]])
    baseline = _peak_mb()
    _reset_peak()
    embedder.transform([spec["clip"]] * embedder.batch_size)
    batch_baseline = _peak_mb()
    _reset_peak()
    start = time.perf_counter()
    embedding = embedder.transform([spec["long"]])
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    return {
        "baseline_mb": baseline,
        "batch_baseline_mb": batch_baseline,
        "peak_mb": peak,
        "extra_mb": peak - baseline,
        "extra_vs_batch_mb": peak - batch_baseline,
        "seconds": seconds,
        "finite": bool(np.isfinite(embedding).all()),
    }


def run(args):
    with tempfile.TemporaryDirectory(prefix="bench_long_audio_") as workdir:
        return _run(args, Path(workdir))


def _run(args, workdir):
    import sklearn_audioconcepts

    clip = write_long_wav(workdir / "clip10s.wav", 10)
    spec = {"clip": str(clip), "threads": args.threads, "batch_size": args.batch_size}
    if "clap" in args.models:
        spec["clap_paths"] = _tiny_clap_paths(workdir / "clap")
    results = {}
    for minutes in args.minutes:
        path = write_long_wav(workdir / f"long{minutes:g}min.wav", minutes * 60)
        file_mb = path.stat().st_size / 2**20
        for model in args.models:
            child = {**spec, "model": model, "long": str(path)}
            completed = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(child)],
                capture_output=True,
                text=True,
                check=False,
            )
            if completed.returncode != 0:
                raise RuntimeError(
                    f"{model}, {minutes:g} min failed:\n{completed.stderr[-3000:]}"
                )
            row = json.loads(completed.stdout.strip().splitlines()[-1])
            row["file_mb"] = file_mb
            results[f"{model}_{minutes:g}min"] = {
                "model": model,
                "minutes": minutes,
                **row,
            }
        path.unlink()
    return {
        "settings": {
            "minutes": args.minutes,
            "models": args.models,
            "batch_size": args.batch_size or "default",
        },
        "package": str(Path(sklearn_audioconcepts.__file__).parent),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "results": results,
    }


def format_table(report):
    lines = [
        f"{'case':<22}{'file MB':>9}{'baseline':>10}{'peak':>9}"
        f"{'+ vs 10 s':>11}{'+ vs batch':>12}{'seconds':>9}",
    ]
    for name, row in report["results"].items():
        lines.append(
            f"{name:<22}{row['file_mb']:>9.0f}{row['baseline_mb']:>10.0f}"
            f"{row['peak_mb']:>9.0f}{row['extra_mb']:>11.0f}"
            f"{row['extra_vs_batch_mb']:>12.0f}{row['seconds']:>9.1f}"
        )
    lines.append(
        "Memory in MB (peak resident set, one fresh process per case); '+ vs 10 s' "
        "is the long file's peak minus the peak after embedding one 10 s clip."
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument(
        "--models", nargs="+", choices=["resemblyzer", "clap"],
        default=["resemblyzer", "clap"],
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="0: torch default")
    parser.add_argument(
        "--batch-size", type=int, default=0, help="0: each embedder's default"
    )
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 and 5 min, Resemblyzer"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return {}
    if args.quick:
        args.minutes, args.models = [3, 5], ["resemblyzer"]
    report = run(args)
    report["table"] = format_table(report)
    print(report["table"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
