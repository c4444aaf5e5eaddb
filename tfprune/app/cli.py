"""The ``tfprune`` command line (click).

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(main, ["--version"]).output.startswith("tfprune, version")
    True
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ info logs

import click  # noqa: E402

import tfprune  # noqa: E402

__all__ = ["main"]


def _quiet_tensorflow() -> None:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(tfprune.__version__, prog_name="tfprune")
def main():
    """tfprune: prune tf_keras models (criteria, schedules, surgery, edge export)."""
    _quiet_tensorflow()


@main.command()
@click.option("--out", default="demo_out", show_default=True, type=click.Path(),
              help="Folder for report.json, report.md and the .tflite files.")
@click.option("--sparsity", default=0.9, show_default=True, type=float,
              help="Final sparsity of the pruned model, in (0, 1).")
@click.option("--quick", is_flag=True, help="Short budget (about a minute) for a smoke run.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--seed", default=0, show_default=True, type=int, help="Data split and init seed.")
@click.option("--scope", default="global", show_default=True,
              type=click.Choice(["global", "layer"]),
              help="global: one magnitude ranking across layers; layer: each layer at the target.")
@click.option("--config", "config", default=None, type=click.Path(),
              help="YAML recipe overriding the budget (see configs/demo.yaml).")
def demo(out, sparsity, quick, quiet, seed, scope, config):
    """Train the demo CNN on MNIST-5k, prune it gradually, strip, export and report."""
    from tfprune import errors
    from tfprune.app.demo import run_demo
    from tfprune.app.recipes import load_demo_recipe

    try:
        recipe = load_demo_recipe(config) if config else None
        report = run_demo(out, sparsity=sparsity, quick=quick, quiet=quiet, seed=seed,
                          scope=scope, recipe=recipe)
    except errors.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    d, p = report["dense"], report["pruned"]
    click.echo(f"dense : accuracy {d['accuracy']:.2%}, non-zeros {d['nonzero_params']:,}, "
               f".tflite {d['tflite_bytes']:,} B")
    click.echo(f"pruned: accuracy {p['accuracy']:.2%}, non-zeros {p['nonzero_params']:,}, "
               f".tflite {p['tflite_bytes']:,} B (sparsity {p['sparsity']:.1%})")
    click.echo(f"report: {os.path.join(os.path.abspath(out), 'report.md')} "
               f"(and report.json), {report['seconds']:.0f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
