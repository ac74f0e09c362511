"""The command line: ``sklearn-audioconcepts demo``.

Also runs as ``python -m sklearn_audioconcepts``.
"""

import argparse
import sys
import time

from . import __version__

# Sound sources and qualities for the demo's readable synthetic vocabulary:
# every concept is "<source>, <quality>", and concepts sharing a source are
# near-synonyms in embedding space, as they are in CLAP's text space.
_SOURCES = (
    "dog barking",
    "cat meowing",
    "birdsong",
    "rain",
    "thunder",
    "wind",
    "ocean waves",
    "stream",
    "car engine",
    "car horn",
    "siren",
    "train",
    "airplane",
    "helicopter",
    "footsteps",
    "door knock",
    "door slam",
    "glass breaking",
    "keyboard typing",
    "clock ticking",
    "church bells",
    "crowd chatter",
    "applause",
    "laughter",
    "baby crying",
    "speech",
    "singing",
    "whistling",
    "coughing",
    "snoring",
    "acoustic guitar",
    "electric guitar",
    "piano",
    "violin",
    "drums",
    "trumpet",
    "flute",
    "synthesizer",
    "bass",
    "choir",
    "vacuum cleaner",
    "washing machine",
    "hair dryer",
    "chainsaw",
    "hammering",
    "frying food",
    "water dripping",
    "fireworks",
    "gunshot",
    "rooster crowing",
)
_QUALITIES = (
    "close",
    "distant",
    "loud",
    "quiet",
    "indoors",
    "outdoors",
    "reverberant",
    "muffled",
    "rhythmic",
    "continuous",
    "intermittent",
    "high-pitched",
    "low-pitched",
    "harsh",
    "soft",
    "in a city",
    "in a forest",
    "on a street",
    "in a room",
    "recorded on a phone",
)


def _demo_vocabulary_names():
    names = [f"{source}, {quality}" for source in _SOURCES for quality in _QUALITIES]
    groups = [source for source in _SOURCES for _ in _QUALITIES]
    return names, groups


def run_demo(n_samples=1500, random_state=0, out=sys.stdout):
    """Concept decomposition end to end on synthetic CLAP-like embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from .datasets import make_concept_embeddings
    from .decomposition import ConceptDecomposer

    def say(text=""):
        print(text, file=out)

    names, groups = _demo_vocabulary_names()
    X, vocabulary, _, y = make_concept_embeddings(
        n_samples,
        len(names),
        512,
        n_active=30,
        n_classes=4,
        concept_names=names,
        concept_groups=groups,
        random_state=random_state,
    )
    say(f"sklearn-audioconcepts {__version__}: concept decomposition demo")
    say(
        f"{n_samples} synthetic CLAP-like audio embeddings (512-d, unit norm, "
        f"4 classes) over a {len(vocabulary)}-concept vocabulary."
    )
    say(
        "No model weights are needed; for real audio, decompose CLAP embeddings "
        "the same way."
    )
    say()

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=random_state, stratify=y
    )
    decomposer = ConceptDecomposer(vocabulary, device="auto", progress=False)
    start = time.perf_counter()
    weights = decomposer.fit(X_train).transform(X_test)
    elapsed = time.perf_counter() - start
    say(
        f"Decomposed {len(X_test)} test clips in {elapsed:.2f} s "
        f"({len(X_test) / elapsed:,.0f} clips/s) with "
        f"l1_penalty={decomposer.l1_penalty}:"
    )
    say(
        f"  {(weights > 0).sum(1).mean():.1f} active concepts per clip on average, "
        f"reconstruction cosine {decomposer.score(X_test):.3f}"
    )
    say()

    say("Top concepts of three clips (weight = prominence):")
    table = decomposer.explain(X_test[:3], top_k=4)
    for sample, rows in table.groupby("sample"):
        say(f"  clip {sample} (class {y_test[sample]}):")
        for _, row in rows.iterrows():
            say(f"    {row['weight']:.3f}  {row['concept']}")
    say()

    say("Most frequent top-5 concepts per class:")
    top5 = decomposer.explain(X_test, top_k=5)
    top5["class"] = y_test[top5["sample"].to_numpy()]
    for label, rows in top5.groupby("class"):
        common = rows["concept"].value_counts().head(3)
        listed = "; ".join(f"{name} ({count})" for name, count in common.items())
        say(f"  class {label}: {listed}")
    say()

    say("Linear probe (logistic regression), test accuracy:")
    dense = (
        LogisticRegression(max_iter=3000).fit(X_train, y_train).score(X_test, y_test)
    )
    say(f"  dense CLAP-like embedding           {dense:.3f}")
    for l1_penalty in (0.02, 0.05, 0.1, 0.2, 0.5):
        probe = make_pipeline(
            ConceptDecomposer(
                vocabulary, l1_penalty=l1_penalty, device="auto", progress=False
            ),
            LogisticRegression(max_iter=3000),
        ).fit(X_train, y_train)
        active = (probe[0].transform(X_test) > 0).sum(1).mean()
        say(
            f"  concepts, l1_penalty={l1_penalty:<4}  "
            f"{probe.score(X_test, y_test):.3f}  "
            f"({active:5.1f} active, cosine {probe[0].score(X_test):.3f})"
        )
    return 0


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="sklearn-audioconcepts",
        description="Interpretable audio embeddings as scikit-learn estimators.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run the concept decomposition demo offline"
    )
    demo.add_argument("--n-samples", type=int, default=1500)
    demo.add_argument("--random-state", type=int, default=0)
    return parser


def main(argv=None):
    """Entry point; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            if args.n_samples < 20:
                parser.error("--n-samples must be at least 20")
            return run_demo(args.n_samples, args.random_state)
    except Exception as exc:  # noqa: BLE001 - the CLI reports, --debug re-raises
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
