"""MiniCLAP on a controlled sound world: every figure of issue 15 in one run.

No trained audio-text model can be reached offline, so this trains one: a
:class:`~sklearn_audioconcepts.MiniCLAP` on captioned clips from
:func:`~sklearn_audioconcepts.datasets.make_sound_scenes` (seed ``--seed``)
and scores it on held-out clips of another seed (``--seed + 1``):

1. dense zero-shot accuracy per factor (``source`` with the prompt
   "This is a sound of {source}.", other factors with the world's concept
   phrase of each value);
2. the sparsity sweep of the concept decomposition over the world's 212
   concept phrases: mean active concepts (L0), zero-shot accuracy of the
   reconstructions on ``source``, top-3 concept precision and factor recall
   (:mod:`sklearn_audioconcepts.faithfulness`), per ``l1_penalty``;
3. text-to-audio and audio-to-text retrieval (R@1/5/10, mAP@10);
4. a :class:`~sklearn_audioconcepts.FineTunedConceptProjector` tuned on the
   factor with the weakest dense zero-shot accuracy, before and after;
5. the top concepts of 3 held-out clips next to their captions.

Run from the repository root::

    python benchmarks/reproduce_sound_scenes.py --quick            # ~1 min
    python benchmarks/reproduce_sound_scenes.py --output results/  # minutes

With ``--output``: ``scenes_sparsity_sweep.png`` (L0 against zero-shot
accuracy and faithfulness), ``scenes_concept_bars.png`` and
``results.json``.

MiniCLAP trains on each clip's caption half of the time and on one of its two
short keyword captions (``make_sound_scenes``' ``short_captions``) otherwise.
Measured in full mode (seed 0; 2 shared CPU cores, load 8-12): dense
zero-shot on ``source`` 0.895, concept reconstructions 0.897 (33 active
concepts), top-3 concept precision 0.583 at the default ``l1_penalty=0.05``
(18.2 active concepts, factor recall 0.824; 0.675 at 0.2), text->audio R@10
0.989. The issue's target of 0.7 for the precision is missed: most wrong
top-3 concepts are two-value compositions whose source is wrong ("loud
speech" on a loud siren), because the bag-of-words text tower reads such a
phrase mostly as its modifier. Before the short captions and "sound" in the
captions: 0.873, 0.883, 0.548 and 0.985.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from sklearn_audioconcepts import _scenes_experiment

QUICK = _scenes_experiment.QUICK
FULL = _scenes_experiment.FULL


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small run (tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--output", help="folder for figures and results.json")
    args = parser.parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    config = QUICK if args.quick else FULL
    start = time.perf_counter()
    results = _scenes_experiment.run_experiment(
        config, random_state=args.seed, device=args.device, output=args.output
    )
    results["total_seconds"] = time.perf_counter() - start
    print(f"\nTotal: {results['total_seconds']:.1f} s")
    if args.output:
        path = Path(args.output) / "results.json"
        path.write_text(json.dumps(results, indent=2, default=float))
        print(f"results: {path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
