"""The sound-scenes experiment: MiniCLAP on a world with known factors.

One implementation shared by ``sklearn-audioconcepts demo``,
``benchmarks/reproduce_sound_scenes.py`` and the gallery example: generate
training and held-out scenes (different seeds), train :class:`MiniCLAP`, and
score on the held-out clips the dense zero-shot accuracy per factor, the
concept reconstructions' zero-shot accuracy and faithfulness along an
``l1_penalty`` sweep, text-audio retrieval, a
:class:`FineTunedConceptProjector` on the weakest factor, and the top
concepts of a few clips next to their captions.
"""

import textwrap
import time
from pathlib import Path

import numpy as np

# Sizes. FULL is the configuration, and the demo's (about 45 s on 2
# cores); QUICK runs in seconds for tests.
FULL = {
    "n_train": 3000,
    "n_test": 1000,
    "max_epochs": 80,
    "penalties": (0.01, 0.02, 0.03, 0.05, 0.1, 0.2),
    "projector_epochs": 40,
}
QUICK = {
    "n_train": 300,
    "n_test": 150,
    "max_epochs": 20,
    "penalties": (0.02, 0.05, 0.2),
    "projector_epochs": 3,
}
SOURCE_TEMPLATE = "This is a sound of {}."
DEFAULT_PENALTY = 0.05  # ConceptDecomposer's default


def _print(text=""):
    print(text)


def factor_prompts(scenes, factor):
    """Values of ``factor`` (but "none") and the text each is prompted with.

    ``source`` uses "This is a sound of {source}."; every other factor uses
    the world's concept phrase that asserts exactly that value (e.g.
    "high-pitched", "German speech").
    """
    values = [v for v in scenes.factor_values[factor] if v != "none"]
    if factor == "source":
        return values, [SOURCE_TEMPLATE.format(v) for v in values]
    prompts = []
    for value in values:
        phrase = next(
            concept
            for concept, asserted in scenes.concept_factors.items()
            if asserted.get(factor) == value and set(asserted) <= {factor, "source"}
        )
        prompts.append(phrase)
    return values, prompts


def training_captions(scenes):
    """Each clip's captions to train on: its caption half of the time.

    The full caption, repeated as many times as the clip has short captions,
    then the short captions (:func:`make_sound_scenes`' keyword-style
    captions): :class:`MiniCLAP` draws one of them at every step.
    """
    return [
        [caption] * max(1, len(short)) + list(short)
        for caption, short in zip(scenes.captions, scenes.short_captions)
    ]


def run_experiment(
    config=FULL, *, random_state=0, device="cpu", output=None, say=_print
):
    """Run the experiment; report with ``say``; return the measured figures."""
    from sklearn.linear_model import LogisticRegression

    from .datasets import make_sound_scenes
    from .decomposition import ConceptDecomposer
    from .faithfulness import sparsity_sweep
    from .miniclap import MiniCLAP
    from .projector import FineTunedConceptProjector
    from .retrieval import retrieval_scores
    from .vocabulary import ConceptVocabulary
    from .zero_shot import ZeroShotClassifier

    results = {"config": {k: list(v) if isinstance(v, tuple) else v
                          for k, v in config.items()}}  # fmt: skip
    # CPU seconds beside wall seconds: on a shared machine the wall time says
    # more about the neighbours than about the code.
    start, cpu = time.perf_counter(), time.process_time()
    train = make_sound_scenes(config["n_train"], random_state=random_state)
    results["generation_seconds"] = time.perf_counter() - start
    results["generation_cpu_seconds"] = time.process_time() - cpu
    test = make_sound_scenes(config["n_test"], random_state=random_state + 1)
    say(
        f"Sound scenes: {config['n_train']} training clips generated in "
        f"{results['generation_seconds']:.1f} s "
        f"({results['generation_cpu_seconds']:.1f} CPU s); {config['n_test']} "
        "held-out clips "
        f"(random_state {random_state + 1}); {len(train.factor_values)} factors, "
        f"{len(train.concepts)} concepts."
    )

    start, cpu = time.perf_counter(), time.process_time()
    model = MiniCLAP(
        sample_rate=train.sample_rate,
        max_epochs=config["max_epochs"],
        device=device,
        progress=False,
        random_state=random_state,
    ).fit(train.audio, training_captions(train))
    results["training_seconds"] = time.perf_counter() - start
    results["training_cpu_seconds"] = time.process_time() - cpu
    say(
        f"MiniCLAP trained in {results['training_seconds']:.1f} s "
        f"({results['training_cpu_seconds']:.1f} CPU s) "
        f"({config['max_epochs']} epochs, final loss "
        f"{model.history_[-1]['loss']:.3f})."
    )
    X_train = model.transform(train.audio)
    X_test = model.transform(test.audio)

    # Dense zero-shot accuracy per factor, on the clips it applies to.
    say()
    say("Held-out zero-shot accuracy per factor (dense embeddings):")
    dense = {}
    classifiers = {}
    for factor in train.factor_values:
        values, prompts = factor_prompts(train, factor)
        mask = test.factors[factor].isin(values).to_numpy()
        clf = ZeroShotClassifier(values, text_embeddings=model.embed_text(prompts))
        classifiers[factor] = clf.fit(X_test)
        dense[factor] = float(clf.score(X_test[mask], test.factors[factor][mask]))
        say(f"  {factor:<11} {dense[factor]:.3f}  ({len(values)} classes)")
    results["dense_zero_shot"] = dense

    # Concepts: the world's phrases embedded by the model's text tower.
    vocabulary = ConceptVocabulary.from_texts(train.concepts, model)
    decomposer = ConceptDecomposer(vocabulary, device=device, progress=False).fit(
        X_train
    )
    source_labels = test.factors["source"]
    sweep = sparsity_sweep(
        decomposer,
        X_test,
        sorted(set(config["penalties"]) | {DEFAULT_PENALTY}),
        concept_factors=train.concept_factors,
        factors=test.factors,
        zero_shot=classifiers["source"],
        labels=source_labels,
        k=3,
    )
    results["sweep"] = sweep.to_dict("records")
    say()
    say("Sparsity sweep on held-out clips (source zero-shot of reconstructions):")
    say("  l1_penalty  active  zero-shot  top-3 precision  factor recall")
    for row in sweep.itertuples():
        say(
            f"  {row.l1_penalty:<10g}  {row.mean_active:6.1f}  "
            f"{row.zero_shot_accuracy:9.3f}  {row.precision_at_k:15.3f}  "
            f"{row.recall:13.3f}"
        )
    in_range = sweep[(sweep["mean_active"] >= 10) & (sweep["mean_active"] <= 40)]
    if len(in_range):
        best = in_range.loc[in_range["zero_shot_accuracy"].idxmax()]
        results["concept_zero_shot"] = {
            "l1_penalty": float(best["l1_penalty"]),
            "mean_active": float(best["mean_active"]),
            "accuracy": float(best["zero_shot_accuracy"]),
            "gap_to_dense": float(dense["source"] - best["zero_shot_accuracy"]),
        }
        say(
            f"  at {best['mean_active']:.1f} active concepts (l1_penalty "
            f"{best['l1_penalty']:g}) the reconstructions score "
            f"{best['zero_shot_accuracy']:.3f} on source, dense {dense['source']:.3f}"
        )
    default = sweep[sweep["l1_penalty"] == DEFAULT_PENALTY].iloc[0]
    results["default_penalty"] = {
        "l1_penalty": DEFAULT_PENALTY,
        "precision_at_3": float(default["precision_at_k"]),
        "recall": float(default["recall"]),
        "mean_active": float(default["mean_active"]),
    }
    say(
        f"  default l1_penalty={DEFAULT_PENALTY}: top-3 concept precision "
        f"{default['precision_at_k']:.3f}, {default['mean_active']:.1f} active "
        "concepts per clip"
    )

    # Retrieval, one caption per held-out clip.
    captions = model.embed_text(test.captions)
    retrieval = retrieval_scores(X_test, captions, np.arange(len(X_test)))
    results["retrieval"] = retrieval
    say()
    say(
        f"Retrieval over {len(X_test)} held-out clips: text->audio R@1 "
        f"{retrieval['text_to_audio_R@1']:.3f}, R@10 "
        f"{retrieval['text_to_audio_R@10']:.3f}; audio->text R@10 "
        f"{retrieval['audio_to_text_R@10']:.3f}"
    )

    # The projector, tuned on the factor the dense zero-shot reads worst.
    weakest = min(dense, key=dense.get)
    values, prompts = factor_prompts(train, weakest)
    prompt_embeddings = dict(zip(values, model.embed_text(prompts)))
    train_mask = train.factors[weakest].isin(values).to_numpy()
    test_mask = test.factors[weakest].isin(values).to_numpy()
    y_train = train.factors[weakest][train_mask].to_numpy().astype(str)
    y_test = test.factors[weakest][test_mask].to_numpy().astype(str)
    scores = {}
    for label, epochs in (("before", 0), ("after", config["projector_epochs"])):
        projector = FineTunedConceptProjector(
            ConceptDecomposer(vocabulary, l1_penalty=DEFAULT_PENALTY),
            class_embeddings=prompt_embeddings,
            max_epochs=epochs,
            device=device,
            progress=False,
            random_state=random_state,
        ).fit(X_train[train_mask], y_train)
        scores[label] = float(projector.score(X_test[test_mask], y_test))
    # What any linear read-out of the dense embeddings reaches on the same
    # clips: the projector is linear too, so this is the room it has.
    probe = LogisticRegression(max_iter=1000).fit(X_train[train_mask], y_train)
    scores["linear_probe"] = float(probe.score(X_test[test_mask], y_test))
    results["projector"] = {
        "factor": weakest,
        "n_train": int(train_mask.sum()),
        "n_test": int(test_mask.sum()),
        **scores,
    }
    say(
        f"FineTunedConceptProjector on the weakest factor ({weakest}; "
        f"{train_mask.sum()} training, {test_mask.sum()} held-out clips it "
        f"applies to): concept zero-shot {scores['before']:.3f} before, "
        f"{scores['after']:.3f} after tuning; a logistic regression on the "
        f"dense embeddings reaches {scores['linear_probe']:.3f}"
    )

    # What the concepts say about three held-out clips.
    say()
    say(f"Top concepts of 3 held-out clips (l1_penalty={DEFAULT_PENALTY}):")
    table = decomposer.explain(X_test[:3], top_k=4)
    examples = []
    for sample, rows in table.groupby("sample"):
        say(f"  caption: {test.captions[sample]}")
        listed = ", ".join(
            f"{row.concept} ({row.weight:.2f})" for row in rows.itertuples()
        )
        say(f"  concepts: {listed}")
        examples.append(
            {"caption": test.captions[sample], "concepts": list(rows["concept"])}
        )
    results["examples"] = examples

    if output is not None:
        _figures(sweep, dense["source"], table, test.captions[0], Path(output), say)
    return results


def _figures(sweep, dense_accuracy, table, caption, output, say):
    from ._demo import _figures_enabled, save_figure

    if not _figures_enabled(output, say):
        return
    from .plotting import plot_concept_bars, plot_sparsity_tradeoff

    output.mkdir(parents=True, exist_ok=True)
    columns = {
        "precision_at_k": "top-3 concept precision",
        "zero_shot_accuracy": "zero-shot accuracy (source)",
        "recall": "factor recall",
    }
    # The penalties are written next to the first curve, the lowest.
    figure = plot_sparsity_tradeoff(
        np.tile(sweep["mean_active"].to_numpy(), (len(columns), 1)),
        sweep[list(columns)].to_numpy().T,
        penalties=sweep["l1_penalty"].to_numpy(),
        baseline=dense_accuracy,
        labels=list(columns.values()),
    )
    ax = figure.axes[0]
    ax.set_ylabel("held-out score")
    ax.set_title(
        "MiniCLAP on sound scenes: sparsity against accuracy and faithfulness\n"
        "(labels: l1_penalty)",
        fontsize=10,
    )
    figure.tight_layout()
    save_figure(figure, output / "scenes_sparsity_sweep.png", say)
    figure = plot_concept_bars(table, sample=0)
    # The true caption beside the concepts: what a reader checks them against.
    caption = textwrap.fill(f"true caption: {caption}", width=60)
    figure.axes[0].set_title(f"Top concepts of held-out clip 0\n{caption}", fontsize=9)
    figure.tight_layout()
    save_figure(figure, output / "scenes_concept_bars.png", say)
