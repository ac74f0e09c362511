"""``sae fit | transform | steer``: a TopK sparse autoencoder on embeddings.

Models are saved with skops (``.skops``); a joblib/pickle model file is
written when asked for by name and loads only with ``--trust-pickle``, since
unpickling runs code.
"""

from pathlib import Path

from ._checks import UsageError
from ._common import EXIT_OK, write_output


def cmd_sae(args, console):
    import numpy as np

    from .._tables import read_table
    from ..persistence import PICKLE_SUFFIXES, SUFFIX, load_model, save_model
    from ..sae import TopKSparseAutoencoder

    if args.sae_command == "fit":
        suffix = Path(args.output).suffix.lower()
        if suffix not in (SUFFIX, *PICKLE_SUFFIXES):
            raise UsageError(
                f"name the model file *{SUFFIX} (loads without running code), "
                f"not {Path(args.output).name!r}."
            )
    ids, X, columns, _ = read_table(args.embeddings, kind="embeddings file")
    if args.sae_command == "fit":
        sae = TopKSparseAutoencoder(
            n_latents=args.n_latents,
            expansion_factor=args.expansion_factor,
            k=args.k,
            sparsity=args.sparsity,
            matryoshka_sizes=args.matryoshka_sizes,
            aux_k=args.aux_k,
            lr=args.lr,
            batch_size=args.batch_size,
            max_epochs=args.max_epochs,
            normalize=args.normalize,
            device=args.device,
            progress=console.progress,
            random_state=args.random_state,
        )
        console.info(f"Training on {len(X)} embeddings ({args.max_epochs} epochs)...")
        sae.fit(X)
        if suffix == SUFFIX:
            save_model(sae, args.output)
        else:
            import joblib

            # Asked for by name; loading it back needs --trust-pickle.
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            joblib.dump(sae, args.output)
        console.info(
            f"Trained on {len(X)} embeddings: {sae.n_latents_} latents, k={sae.k}, "
            f"variance explained {sae.score(X):.3f}, {len(sae.dead_latents_)} dead "
            f"latents. Saved to {args.output}."
        )
        if suffix != SUFFIX:
            console.info(
                f"{args.output} is a pickle: 'sae transform' and 'sae steer' load it "
                f"only with --trust-pickle. A {SUFFIX} file needs no flag."
            )
        return EXIT_OK

    sae = load_model(
        args.model, expected=TopKSparseAutoencoder, trust_pickle=args.trust_pickle
    )
    metadata = {"model": str(args.model), "embeddings": str(args.embeddings)}
    if args.sae_command == "transform":
        if args.reconstruct:
            values = sae.inverse_transform(sae.transform(X))
            names, metadata["kind"] = columns, "reconstructions"
        else:
            values = sae.transform(X)
            names, metadata["kind"] = sae.get_feature_names_out(), "latents"
        write_output(args.output, ids, np.asarray(values), names, metadata, console)
        return EXIT_OK

    edits = {"value": args.value, "delta": args.delta, "scale": args.scale}
    given = {name: v for name, v in edits.items() if v is not None}
    if len(given) != 1:
        raise UsageError("sae steer needs exactly one of --value, --delta or --scale.")
    steered = sae.steer(X, args.latent, **given)
    metadata.update(kind="embeddings", steered_latents=args.latent, **given)
    write_output(args.output, ids, np.asarray(steered), columns, metadata, console)
    return EXIT_OK
