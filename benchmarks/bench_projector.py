"""Does fine-tuning the concept projector help where it should, and harm nowhere?

Two planted tasks from :func:`sklearn_audioconcepts._planted.make_planted_task`
(its docstring explains the construction), each split in half, stratified,
into training and held-out rows:

* **misaligned** (``misalignment=1``): the audio side is a random rotation of
  the text side on 75% of the dimensions, so the decomposition of audio over
  the text vocabulary picks the wrong concepts;
* **aligned** (``misalignment=0``): same generator, no rotation.

On each, :class:`~sklearn_audioconcepts.projector.FineTunedConceptProjector`
is fitted on the training rows twice through the same code path: untuned
(``max_epochs=0``, ``W = I``: the plain ``ConceptDecomposer``) and tuned
(labels, cross-entropy through the unrolled decomposition, early stopping on
a 10% validation split of the training rows). Reported on the held-out rows,
as mean and standard deviation over ``--seeds`` (each seed draws a new task
and split):

* ``zero-shot``: accuracy of the head that scores the reconstruction from the
  concepts against the class prompts (``predict``), what fine-tuning trains;
* ``probe``: accuracy of a logistic regression trained on the training rows'
  concept weights (``transform``) and applied to the held-out rows';
* for context, the same two readouts on the dense embeddings: zero-shot
  cosine between the centred embedding and the centred prompts, and a
  logistic regression on the raw embeddings;
* how far ``W`` moved (relative Frobenius distance from the identity, the
  effective rank of ``W - I``), the epochs run and the fit time.

Run from the repository root::

    python benchmarks/bench_projector.py                 # about a minute
    python benchmarks/bench_projector.py --seeds 0 1 2 --json out.json
    python benchmarks/bench_projector.py --quick         # a few seconds
"""

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_audioconcepts import ConceptDecomposer
from sklearn_audioconcepts._planted import make_planted_task
from sklearn_audioconcepts.projector import FineTunedConceptProjector

TASKS = {"misaligned": 1.0, "aligned": 0.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=1200)
    parser.add_argument("--n-concepts", type=int, default=1000)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--n-classes", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--l1-penalty", type=float, default=0.05)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--identity-penalty", type=float, default=0.01)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one seed, 20 epochs: a smoke test",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_concepts, args.n_features = 300, 200, 32
        args.n_classes, args.seeds, args.max_epochs = 3, [0], 20
        args.lr = 1e-2
    return args


def machine_info(device):
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    name = platform.processor() or platform.machine()
    if torch.device(device).type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        try:
            with open("/proc/cpuinfo") as cpuinfo:
                name = next(
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                )
        except (OSError, StopIteration):
            pass
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": name,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "load_average_at_start": [round(value, 2) for value in load],
    }


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _unit_rows(array):
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def dense_readouts(task, X_train, X_test, y_train, y_test):
    """Zero-shot and probe accuracy of the dense embeddings (context only)."""
    classes = np.unique(y_train)
    prompts = _unit_rows(np.stack([task.class_embeddings[c] for c in classes]))
    concepts = _unit_rows(task.vocabulary.embeddings.astype(np.float64))
    centred_prompts = _unit_rows(prompts - concepts.mean(axis=0))
    train_mean = _unit_rows(X_train.astype(np.float64)).mean(axis=0)
    centred_test = _unit_rows(_unit_rows(X_test.astype(np.float64)) - train_mean)
    zero_shot = classes[np.argmax(centred_test @ centred_prompts.T, axis=1)]
    probe = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    return {
        "zero_shot": float(np.mean(zero_shot == y_test)),
        "probe": float(probe.score(X_test, y_test)),
    }


def concept_readouts(projector, X_train, X_test, y_train, y_test):
    start = time.perf_counter()
    projector.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    probe = LogisticRegression(max_iter=2000).fit(projector.transform(X_train), y_train)
    change = projector.projection_change()
    return {
        "zero_shot": float(projector.score(X_test, y_test)),
        "probe": float(probe.score(projector.transform(X_test), y_test)),
        "relative_frobenius": change["relative_frobenius"],
        "effective_rank": change["effective_rank"],
        "epochs": projector.n_iter_,
        "fit_seconds": fit_seconds,
    }


def run_task(name, misalignment, seed, args):
    task = make_planted_task(
        args.n_samples,
        args.n_concepts,
        args.n_features,
        n_classes=args.n_classes,
        misalignment=misalignment,
        random_state=seed,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        task.X, task.y, test_size=0.5, stratify=task.y, random_state=seed
    )
    projector = FineTunedConceptProjector(
        ConceptDecomposer(task.vocabulary, l1_penalty=args.l1_penalty),
        class_embeddings=task.class_embeddings,
        lr=args.lr,
        max_epochs=args.max_epochs,
        identity_penalty=args.identity_penalty,
        device=args.device,
        progress=False,
        random_state=seed,
    )
    row = {"task": name, "misalignment": misalignment, "seed": seed}
    row["dense"] = dense_readouts(task, X_train, X_test, y_train, y_test)
    row["untuned"] = concept_readouts(
        projector.set_params(max_epochs=0), X_train, X_test, y_train, y_test
    )
    row["tuned"] = concept_readouts(
        projector.set_params(max_epochs=args.max_epochs),
        X_train,
        X_test,
        y_train,
        y_test,
    )
    log(
        f"{name} seed={seed}: zero-shot {row['untuned']['zero_shot']:.3f} -> "
        f"{row['tuned']['zero_shot']:.3f}, probe {row['untuned']['probe']:.3f} -> "
        f"{row['tuned']['probe']:.3f} ({row['tuned']['epochs']} epochs, "
        f"{row['tuned']['fit_seconds']:.1f} s)"
    )
    return row


def summarise(rows):
    summary = {}
    for name in TASKS:
        task_rows = [row for row in rows if row["task"] == name]
        entry = {}
        for variant in ("dense", "untuned", "tuned"):
            for metric in ("zero_shot", "probe"):
                values = np.array([row[variant][metric] for row in task_rows])
                entry[f"{variant}_{metric}"] = (
                    float(values.mean()),
                    float(values.std()),
                )
        for metric in ("zero_shot", "probe"):
            gains = np.array(
                [row["tuned"][metric] - row["untuned"][metric] for row in task_rows]
            )
            entry[f"gain_{metric}"] = (float(gains.mean()), float(gains.std()))
            entry[f"gain_{metric}_min"] = float(gains.min())
        for metric in ("relative_frobenius", "effective_rank", "epochs", "fit_seconds"):
            values = np.array([row["tuned"][metric] for row in task_rows])
            entry[f"tuned_{metric}"] = float(values.mean())
        summary[name] = entry
    return summary


def report(results):
    config, machine = results["config"], results["machine"]
    lines = [
        f"FineTunedConceptProjector on planted tasks: N={config['n_samples']} "
        f"(half held out), V={config['n_concepts']}, d={config['n_features']}, "
        f"{config['n_classes']} classes, seeds={config['seeds']}, "
        f"l1_penalty={config['l1_penalty']}, lr={config['lr']}, "
        f"max_epochs={config['max_epochs']}",
        f"machine: {machine['device_name']} ({machine['device']}, "
        f"cpus={machine['cpu_count']}, torch threads={machine['torch_threads']}, "
        f"torch {machine['torch']}), load {machine['load_average_at_start']}",
        "",
        "held-out accuracy, mean ± sd over seeds",
        "| task | readout | dense | concepts, untuned | concepts, tuned | gain "
        "(worst seed) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, entry in results["summary"].items():
        for metric, label in (("zero_shot", "zero-shot"), ("probe", "linear probe")):
            cells = [
                "{:.3f} ± {:.3f}".format(*entry[f"{variant}_{metric}"])
                for variant in ("dense", "untuned", "tuned")
            ]
            gain = entry[f"gain_{metric}"]
            lines.append(
                f"| {name} | {label} | {' | '.join(cells)} | "
                f"{gain[0]:+.3f} ({entry[f'gain_{metric}_min']:+.3f}) |"
            )
    lines.append("")
    for name, entry in results["summary"].items():
        lines.append(
            f"{name}: ||W - I||_F / ||I||_F = {entry['tuned_relative_frobenius']:.3f}, "
            f"effective rank of W - I = {entry['tuned_effective_rank']:.1f}, "
            f"{entry['tuned_epochs']:.0f} epochs, "
            f"{entry['tuned_fit_seconds']:.1f} s per tuned fit"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {
        "machine": machine_info(args.device),
        "config": {
            key: (str(v) if isinstance(v, Path) else v) for key, v in vars(args).items()
        },
        "rows": [],
    }
    for seed in args.seeds:
        for name, misalignment in TASKS.items():
            results["rows"].append(run_task(name, misalignment, seed, args))
    results["summary"] = summarise(results["rows"])
    results["machine"]["load_average_at_end"] = [
        round(v, 2) for v in (os.getloadavg() if hasattr(os, "getloadavg") else [])
    ]
    text = report(results)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    results["table"] = text
    return results


if __name__ == "__main__":
    main()
