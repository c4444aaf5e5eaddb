"""The ``tfprune`` command line (click).

Exit codes: 0 success; 2 a usage or configuration error (bad option, recipe, model
path, data shape, output folder), reported before any long work; 1 a runtime failure (a run
whose loss or weights became NaN/inf, or that a tfprune check stopped after it started, leaves
``failure.json``/``failure.md`` as its run folder).

Model files are loaded in safe mode: a file carrying Python code (a Lambda layer holding a
``lambda``, in .keras, .h5 or SavedModel form) is refused unless ``--unsafe`` is given.
TensorFlow's C++ log lines are hidden unless ``--verbose`` (:mod:`tfprune.logs`).

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(main, ["--version"]).output.startswith("tfprune, version")
    True
"""

from __future__ import annotations

import functools
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no C++ info logs

import click  # noqa: E402

import tfprune  # noqa: E402
from tfprune import errors, logs  # noqa: E402
from tfprune.app import inspection, models, pipeline, recipes, reports
from tfprune.app.demo import DemoOptions, run_demo
from tfprune.app.flags import ExportFlags, SensitivityFlags, ShrinkFlags
from tfprune.app.recipes import load_demo_recipe

__all__ = ["main"]

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _handled(fn):
    """Map tfprune's refusals to exit code 2 and anything else to exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.TfpruneError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(getattr(exc, "exit_code", 2))  # a run that failed after starting: 1
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001  (the CLI's last line of defence)
            if os.environ.get("TFPRUNE_DEBUG"):
                raise
            tail = logs.captured(3000).strip()
            click.echo(f"tfprune: failed: {type(exc).__name__}: {exc}", err=True)
            if tail:
                click.echo("last TensorFlow log lines:\n" + tail[-1500:], err=True)
            click.echo("(run with TFPRUNE_DEBUG=1 for the traceback)", err=True)
            sys.exit(1)

    return wrapper


# A command with many options collects click's keywords with **flags into its frozen dataclass
# (tfprune.app.flags), so a flag and its field cannot drift apart silently.
_UNSAFE = click.option("--unsafe", is_flag=True,
                       help="Load model files carrying Python code (Lambda layers holding "
                            "lambdas); the code runs. Only for files whose author you trust.")


def _say(quiet):
    return (lambda *a, **k: None) if quiet else click.echo


@click.group(context_settings=_CTX)
@click.version_option(tfprune.__version__, prog_name="tfprune")
@click.option("--verbose", is_flag=True, help="Show TensorFlow's own log lines.")
def main(verbose):
    """tfprune: prune Keras 3 and tf_keras models, shrink them, export them to phones and
    microcontrollers (Keras 3 in, Keras 3 out; TensorFlow backend).

    \b
    Start with:
      tfprune demo --quick                 the demo CNN pruned both ways, in a minute
      tfprune inspect MobileNetV2          what is prunable and why not
      tfprune run configs/demo-structured-mcu.yaml
    """
    if not verbose:
        logs.quiet(fd=True)


@main.command(context_settings=_CTX)
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", default=None, type=click.Path(),
              help="Run folder (default: runs/<recipe name>). Replaced atomically when done.")
@click.option("--quiet", is_flag=True, help="No progress bars or stage lines; the summary only.")
@_UNSAFE
@_handled
def run(recipe, out, quiet, unsafe=False):
    """Run a recipe: train, prune, shrink, export, measure and report.

    \b
    Examples:
      tfprune run configs/demo-unstructured.yaml
      tfprune run configs/demo-structured-mcu.yaml --out runs/mcu
      tfprune run my_recipe.yaml --quiet     (recipe: model: my_model.keras, data: {source: data.npz})

    The recipe is validated (schema: tfprune.app.recipes) before any work; the folder gets
    report.json, report.md, plots/*.png, the models (.keras) and every export.
    """

    spec = recipes.load_recipe(recipe)
    out = out or reports.run_folder(spec.get("name"), recipe)
    report = pipeline.run_recipe(spec, out, quiet=quiet, say=_say(quiet), safe_mode=not unsafe)
    click.echo(reports.table(report))
    click.echo(f"report: {os.path.join(os.path.abspath(out), 'report.md')} "
               f"({len(report['plots'])} plots, {report['seconds']:.0f} s)")


_MODEL_HELP = ("MODEL: a .keras/.h5 file (Keras 3 or tf_keras), a SavedModel folder, demo_cnn or "
               "a tf_keras.applications name.")


@main.command(context_settings=_CTX)
@click.argument("model")
@click.option("--input-shape", default=None, help="For built models: e.g. 96,96,3.")
@click.option("--classes", default=None, type=click.IntRange(1), help="For built models.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--advise", is_flag=True,
              help="Also say, per layer, which pruning pattern can make it faster or smaller "
                   "on which runtime (tfprune.export.advise).")
@click.option("--target", default="all", show_default=True,
              type=click.Choice(["all", "litert", "micro"]),
              help="With --advise: the runtime to advise for (litert: phones/desktops; micro: "
                   "TFLite Micro).")
@_UNSAFE
@_handled
def inspect(model, input_shape, classes, as_json, advise=False, target="all", unsafe=False):
    """Show params, MACs, prunable weights and channel groups of MODEL (and why not).

    \b
    Examples:
      tfprune inspect MobileNetV2 --input-shape 96,96,3
      tfprune inspect runs/mcu/pruned.keras --json
      tfprune inspect runs/mcu/pruned.keras --advise --target micro
    """

    m = models.load_model(model, models.cli_options(input_shape, classes), safe_mode=not unsafe)
    info = inspection.inspect_model(m)
    advice = inspection.advise(m, target=target) if advise else None
    if as_json:
        if advice is not None:
            info["advice"] = advice.to_dict()
        click.echo(json.dumps(info, indent=2, default=str))
        return
    text = inspection.render(info)
    if advice is not None:
        text += (f"\n\nWill it speed up? (target {target}; tfprune.export.advise)\n"
                 + str(advice))
    click.echo(text)


inspect.help += "\n\n" + _MODEL_HELP


@main.command(context_settings=_CTX)
@click.argument("model")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The smaller model (.keras or .h5).")
@click.option("--sparsity", default=None, type=float,
              help="Fraction of each group's channels to remove, in [0, 1). Omitted: remove the "
                   "channels that are already all-zero (a model masked by structured pruning).")
@click.option("--criterion", default="l2", show_default=True, help="l1, l2, fpgm, bn_scale.")
@click.option("--scope", default="layer", show_default=True, type=click.Choice(["layer", "global"]))
@click.option("--round-to", default=1, show_default=True, type=click.IntRange(1),
              help="Kept channel counts are multiples of this.")
@click.option("--exclude", multiple=True, help="Layer whose channels are kept (repeatable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--input-shape", default=None, help="For built models: e.g. 96,96,3.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@_UNSAFE
@_handled
def shrink(model, **flags):
    """Remove channels from MODEL and save the smaller model (no training).

    \b
    Examples:
      tfprune shrink model.keras --sparsity 0.5 --out small.keras
      tfprune shrink MobileNetV2 --input-shape 96,96,3 --sparsity 0.3 --round-to 8 --out s.keras
      tfprune shrink masked.keras --out small.keras       (read the zero channels)

    Fine-tune the result (or use `tfprune run` with prune.granularity: channel).
    """

    f = ShrinkFlags(**flags)
    path = inspection.check_model_out(f.out, overwrite=f.overwrite, source=model)
    m = models.load_model(model, models.cli_options(f.input_shape, None), safe_mode=not f.unsafe)
    small, before, after, removed = inspection.shrink_model(
        m, sparsity=f.sparsity, criterion=f.criterion, scope=f.scope, round_to=f.round_to,
        exclude=list(f.exclude))
    inspection.save_model_atomic(small, path)
    if not f.quiet:
        click.echo(f"removed {removed} channels: params {before['params']:,} -> "
                   f"{after['params']:,}, MACs {before['macs']:,} -> {after['macs']:,}")
        click.echo(f"wrote {path}")


@main.command(context_settings=_CTX)
@click.argument("model")
@click.option("--format", "fmt", default="tflite", show_default=True,
              type=click.Choice(["tflite", "micro"]))
@click.option("--out", required=True, type=click.Path(),
              help="tflite: the .tflite file; micro: a folder (model.tflite, .cc/.h, ops header).")
@click.option("--quantize", default="float", show_default=True,
              type=click.Choice(["float", "int8", "dynamic", "float16"]),
              help="tflite only; micro is always full int8.")
@click.option("--data", "data_source", default=None,
              help="Representative data: mnist5k, digits, a .npz or an image folder. Needed for "
                   "int8 and micro.")
@click.option("--image-size", default=None, help="For an image folder: e.g. 96,96.")
@click.option("--latency", "latency_runs", default=0, show_default=True, type=click.IntRange(0),
              help="Also time LiteRT invokes (runs).")
@click.option("--compress", default="none", show_default=True,
              type=click.Choice(["none", "auto", "prune", "lut", "huffman"]),
              help="--format micro: TFLM DECODE weight compression (auto: per tensor the "
                   "smallest of prune, lut, huffman, none), checked bit-exact in TFLM.")
@click.option("--arena", default=None, type=click.IntRange(1),
              help="--format micro: tensor arena limit in bytes; tensors whose decoded size "
                   "would break it stay uncompressed.")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@_UNSAFE
@_handled
def export(model, **flags):
    """Export MODEL to a verified .tflite file or a microcontroller build.

    \b
    Examples:
      tfprune export runs/mcu/pruned.keras --out m.tflite --quantize int8 --data mnist5k
      tfprune export runs/mcu/pruned.keras --format micro --data mnist5k --out mcu/
      tfprune export pruned.keras --format micro --data mnist5k --out mcu/ --compress auto
      tfprune export m.tflite --format micro --out mcu/     (an int8 .tflite file)
    """

    f = ExportFlags(**flags)
    rec = inspection.export_model(model, f)
    if not f.quiet:
        click.echo("\n".join(f"{k}: {v}" for k, v in rec.items()))


@main.command(context_settings=_CTX)
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", default=None, type=click.Path(),
              help="Write a combined report (report.md, report.json, plots) to this folder.")
@_handled
def report(runs, out):
    """Show the results of one or more run folders side by side.

    \b
    Examples:
      tfprune report runs/demo-structured-mcu
      tfprune report runs/a runs/b --out runs/compare
    """

    combined = inspection.combine_reports(runs)
    click.echo(reports.table(combined))
    if out:
        inspection.write_combined(combined, out)
        click.echo(f"report: {os.path.join(os.path.abspath(out), 'report.md')}")


@main.command(context_settings=_CTX)
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", default=None, type=click.Path(), help="Run folder (default: runs/<name>).")
@click.option("--quiet", is_flag=True, help="No progress bars or stage lines.")
@_UNSAFE
@click.pass_context
@_handled
def sweep(ctx, recipe, out, quiet, unsafe=False):
    """Run a recipe with a `sweep:` section (tfprune.tuning.PruningTuner trials, Pareto set).

    \b
    Examples:
      tfprune sweep configs/sweep.yaml
      tfprune sweep configs/sweep.yaml --out runs/sweep --quiet
    """

    if "sweep" not in recipes.load_recipe(recipe):
        raise errors.ConfigError(f"{recipe}: no 'sweep:' section (see configs/sweep.yaml); use "
                                 "`tfprune run` for other recipes.")
    ctx.invoke(run, recipe=recipe, out=out, quiet=quiet, unsafe=unsafe)


@main.command(context_settings=_CTX)
@click.argument("model")
@click.option("--data", "data_source", required=True,
              help="Labelled data: mnist5k, digits, a .npz (x, y) or an image folder.")
@click.option("--granularity", default="weight", show_default=True,
              type=click.Choice(["weight", "channel", "head"]),
              help="weight: each layer; channel: each dependency group; head: the heads of "
                   "each MultiHeadAttention.")
@click.option("--levels", default="0.25,0.5,0.75,0.9", show_default=True,
              help="Sparsities to try, comma-separated, each in (0, 1).")
@click.option("--metric", default=None,
              help="accuracy, loss, mae, mse, rmse or another Keras metric name; for a model "
                   "with several outputs loss (the compiled total) or <output>_<metric> "
                   "(cls_accuracy). Default: the metric the model was compiled with, else "
                   "accuracy for class scores, mae for regression (loss for several outputs).")
@click.option("--samples", default=256, show_default=True, type=click.IntRange(8),
              help="Test samples evaluated per point.")
@click.option("--out", default=None, type=click.Path(),
              help="Also write report.json, report.md and plots/sensitivity.png here.")
@click.option("--input-shape", default=None, help="For built models: e.g. 96,96,3.")
@_UNSAFE
@_handled
def sensitivity(model, **flags):
    """Measure the metric with each layer (channel group, attention layer's heads) of MODEL
    pruned alone.

    \b
    Examples:
      tfprune sensitivity runs/demo-unstructured/dense.keras --data mnist5k
      tfprune sensitivity model.keras --data data.npz --granularity channel --out sens/
      tfprune sensitivity text.keras --data tokens.npz --granularity head
      tfprune sensitivity two_heads.keras --data d.npz --metric cls_accuracy
                                           (d.npz: x, y_cls, y_reg: one label array per output)
    """

    f = SensitivityFlags(**flags)
    m = models.load_model(model, models.cli_options(f.input_shape, None), safe_mode=not f.unsafe)
    res, rep = inspection.sensitivity_report(m, f.data_source, granularity=f.granularity,
                                             levels=f.levels, metric=f.metric, samples=f.samples,
                                             out=f.out)
    click.echo(res.table())
    if rep.get("outputs"):
        click.echo(inspection.outputs_line(rep["outputs"]))
    if f.out:
        click.echo(f"report: {os.path.join(os.path.abspath(f.out), 'report.md')}")


@main.command(context_settings=_CTX)
@click.option("--out", default="demo_out", show_default=True, type=click.Path(),
              help="Run folder (report.json, report.md, plots, .tflite files, micro builds).")
@click.option("--sparsity", default=0.9, show_default=True, type=float,
              help="Weight sparsity of the unstructured variant, in (0, 1).")
@click.option("--channels", default=0.5, show_default=True, type=float,
              help="Fraction of channels removed in the structured variant, in (0, 1).")
@click.option("--quick", is_flag=True, help="Short budget (about a minute) for a smoke run.")
@click.option("--quiet", is_flag=True, help="No progress bars or stage lines.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Data split and init seed.")
@click.option("--scope", default="global", show_default=True,
              type=click.Choice(["global", "layer"]),
              help="Unstructured variant: global: one magnitude ranking across layers; layer: "
                   "each layer at the target.")
@click.option("--config", "config", default=None, type=click.Path(),
              help="YAML budget overriding the defaults (see configs/demo.yaml).")
@_handled
def demo(out, sparsity, channels, quick, quiet, seed, scope, config):
    """The demo CNN on MNIST-5k pruned both ways, exported and compared.

    Weights (90% unstructured: a smaller compressed file) and channels (50% removed,
    then shrink: fewer MACs, faster LiteRT, smaller microcontroller flash and arena);
    each exported as float and int8 .tflite and a TFLM build.

    \b
    Examples:
      tfprune demo --quick
      tfprune demo --out demo_out --sparsity 0.95 --channels 0.6
    """

    recipe = load_demo_recipe(config) if config else None
    options = DemoOptions(sparsity=sparsity, channels=channels, quick=quick, quiet=quiet,
                          seed=seed, scope=scope)
    rep = run_demo(out, options, recipe=recipe, say=_say(quiet))
    click.echo(reports.table(rep))
    click.echo(f"report: {os.path.join(os.path.abspath(out), 'report.md')} "
               f"(and report.json), {rep['seconds']:.0f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
