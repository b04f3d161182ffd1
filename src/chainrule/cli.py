"""The ``chainrule`` command: parses arguments and calls the library.

    chainrule train [options]               train a model, write a run folder
    chainrule evaluate MODEL --data SPEC    loss and metrics of a saved model
    chainrule predict MODEL INPUT.csv       predictions as CSV
    chainrule info MODEL                    architecture, parameters, metadata
    chainrule explain [MODEL]               one training step, the chain rule in numbers
    chainrule experiment [NAME]             the bundled experiments (when installed)
    chainrule report RUN_DIR                (re)write a run folder's report.html
    chainrule export MODEL --onnx OUT.onnx  the model as ONNX (needs chainrule[onnx])

Every failure ends with a non-zero exit status and one line on stderr that names the
problem; ``--help`` works on every subcommand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

PROG = "chainrule"

TRAIN_EPILOG = """\
data specs: digits (bundled 8x8 handwritten digits), xor, moons, spirals, circles,
  regression, csv:PATH (with --target COLUMN), idx:DIR (MNIST-style IDX files),
  mnist, fashion-mnist, cifar10 (downloaded once into $CHAINRULE_CACHE or ~/.cache/chainrule)
model specs: linear, mlp:256,128 (hidden widths), cnn:8,16 (conv channels; image data)
losses: cross_entropy (classification); mse, huber, l1 (regression)
schedulers: none, step, exponential, cosine, onecycle, plateau, warmup
the model file takes raw features (its first layer standardises them, a regression
  model's last layer answers in the target's units): chainrule.io.load(FILE) works alone
run folders: a non-empty --out needs --resume or --overwrite; a folder is locked while a
  run uses it; a run whose loss or weights turn NaN/Inf stops (exit 1), keeping the last
  finite checkpoint
--resume may change --quiet, --plots, --threads, --fast, --monitor, --allow-nonfinite,
  --tensorboard, and --epochs under the none/exponential/plateau schedules; other
  changed flags are refused
config files: --config run.toml (keys as the flags, with _ or -, top level or [train]),
  or a run folder's config.json; flags given on the command line override the file.
examples:
  chainrule train
  chainrule train --data moons --model mlp:32,32 --epochs 30 --out runs/moons
  chainrule train --data csv:houses.csv --target price --loss huber
  chainrule train --resume runs/moons
  chainrule train --resume runs/moons --epochs 60   (with --scheduler none/plateau/exponential)
  chainrule train --tensorboard      (events in RUN/tensorboard; tensorboard --logdir runs)
  mpiexec -n 4 python -m mpi4py -m chainrule train --distributed   (4 processes, MPI)
"""


class CLIError(Exception):
    """A problem worth one line on stderr (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model and write a run folder (model, history, "
                       "config, summary, report.html, plots).\nWith no options: an MLP on "
                       "the bundled "
                       "digits, >= 97% test accuracy in seconds.",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       argument_default=argparse.SUPPRESS)
    p.add_argument("--config", metavar="FILE", help="settings from a TOML or config.json file")
    g = p.add_argument_group("data")
    g.add_argument("--data", metavar="SPEC", help="dataset (default: digits)")
    g.add_argument("--target", metavar="COLUMN", help="target column of a csv: dataset")
    g.add_argument("--task", choices=("auto", "classification", "regression"),
                   help="how to read a csv: target (default: auto: text, or at most 20 "
                   "distinct whole numbers, is classification; other numbers regression)")
    g.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                   help="standardise features (and regression targets) to mean 0, sd 1 "
                   "with the training split's statistics, by layers inside the model "
                   "(default: on)")
    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="SPEC", help="linear, mlp:W1,W2,... or cnn:C1,C2,... "
                   "(default: mlp:256,128)")
    g.add_argument("--activation", metavar="NAME",
                   help="relu, tanh, sigmoid, gelu, leaky_relu, softplus (default: relu)")
    g.add_argument("--dropout", type=float, metavar="P", help="dropout probability "
                   "(default: 0.1)")
    g.add_argument("--batch-norm", action=argparse.BooleanOptionalAction,
                   help="batch normalisation before each activation")
    g.add_argument("--residual", action=argparse.BooleanOptionalAction,
                   help="residual connections between equal-width hidden layers")
    g = p.add_argument_group("optimisation")
    g.add_argument("--loss", metavar="NAME", help="cross_entropy for classification; mse, "
                   "huber or l1 for regression (default: cross_entropy or mse)")
    g.add_argument("--label-smoothing", type=float, metavar="EPS",
                   help="label smoothing of the cross-entropy (default: 0)")
    g.add_argument("--optimizer", metavar="NAME", help="sgd, adam, adamw, rmsprop, adagrad "
                   "(default: adam)")
    g.add_argument("--lr", type=float, help="learning rate (default: 0.003)")
    g.add_argument("--weight-decay", type=float, metavar="WD", help="weight decay (default: 0)")
    g.add_argument("--momentum", type=float, help="momentum of sgd/rmsprop (default: 0.9)")
    g.add_argument("--clip-norm", type=float, metavar="MAX", help="clip the gradient norm")
    g.add_argument("--scheduler", metavar="NAME", help="learning-rate schedule "
                   "(default: cosine)")
    g.add_argument("--epochs", type=int, help="epochs (default: 40)")
    g.add_argument("--batch-size", type=int, metavar="N", help="batch size (default: 64)")
    g.add_argument("--seed", type=int, help="random seed (default: 0)")
    g.add_argument("--patience", type=int, metavar="N",
                   help="stop when val_loss has not improved for N epochs (keeps the best)")
    g.add_argument("--allow-nonfinite", action="store_true",
                   help="keep training when the loss or weights become NaN/Inf, and save "
                   "the model anyway (default: stop at the first, keeping the last finite "
                   "checkpoint)")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="run folder (default: runs/<time>-<data>)")
    g.add_argument("--resume", metavar="RUN", help="continue a run folder (or checkpoint)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the run in a non-empty --out folder")
    g.add_argument("--no-verify", dest="verify", action="store_false",
                   help="with --resume: skip the checkpoint's checksums (a file another "
                   "tool changed on purpose)")
    g.add_argument("--monitor", action=argparse.BooleanOptionalAction,
                   help="watch gradient flow and report problems in the summary")
    g.add_argument("--plots", action=argparse.BooleanOptionalAction,
                   help="write loss/accuracy/confusion plots (default: on, needs matplotlib)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    _add_threads(g)
    g.add_argument("--fast", action=argparse.BooleanOptionalAction,
                   help="compiled numba kernels where chainrule has them, float32 only: "
                   "Adam, AdamW, SGD and RMSprop updates (the same bits as NumPy), the "
                   "LSTM/GRU time steps (within 1e-6), the exact GELU, LayerNorm; needs pip "
                   "install 'chainrule[fast]' (without numba: one warning, then NumPy); "
                   "CHAINRULE_FAST=1 does the same")
    _add_tensorboard(g)
    _add_distributed(p)
    p.set_defaults(handler=_cmd_train)


def _add_distributed(p: Any) -> None:
    g = p.add_argument_group("distributed")
    g.add_argument("--distributed", action="store_true",
                   help="train data-parallel over the ranks of an MPI job: launch with "
                   "'mpiexec -n N python -m mpi4py -m chainrule train --distributed ...' "
                   "(needs chainrule[mpi]); --batch-size is per rank; rank 0 writes the "
                   "run folder")
    g.add_argument("--sync-batch-norm", action=argparse.BooleanOptionalAction,
                   help="with --batch-norm: normalise each batch with the statistics of "
                   "every rank's batch together (SyncBatchNorm) instead of each rank's own")


def _add_no_verify(p: Any) -> None:
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the file's checksums (a file another tool changed on purpose; "
                   "its shapes and dtypes are still checked)")


def _add_tensorboard(group: Any) -> None:
    group.add_argument("--tensorboard", nargs="?", const="", metavar="DIR",
                       help="write TensorBoard event files to DIR (default: the run "
                       "folder's tensorboard/); needs pip install 'chainrule[tensorboard]'; "
                       "a --resume continues the step numbers (give the flag again)")


def _add_threads(group: Any) -> None:
    group.add_argument("--threads", type=int, metavar="N",
                       help="BLAS threads (default: OMP_NUM_THREADS if set, else the cores "
                       "the load average leaves idle, at least 1); results are bitwise "
                       "reproducible for one thread count")


def _add_evaluate(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="loss and metrics of a saved model on a dataset",
                       description="Evaluate a saved model on a split of a dataset (by "
                       "default the data and seed it was trained with, test split).")
    p.add_argument("model", metavar="MODEL", help="a model file (model.safetensors)")
    p.add_argument("--data", metavar="SPEC", help="dataset (default: the training data)")
    p.add_argument("--target", metavar="COLUMN", help="target column of a csv: dataset")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--batch-size", type=int, default=1024, metavar="N")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _add_no_verify(p)
    _add_threads(p)
    p.set_defaults(handler=_cmd_evaluate)


def _add_predict(sub: Any) -> None:
    p = sub.add_parser("predict", help="predict from a CSV of features",
                       description="Predict with a saved model from a CSV of raw features "
                       "(columns named as in training, or in training order without a header; "
                       "for digits 64 pixel values 0-16). Writes CSV: the predicted label and "
                       "one probability column per class, or the predicted values.")
    p.add_argument("model", metavar="MODEL", help="a model file (model.safetensors)")
    p.add_argument("input", metavar="INPUT.csv", help="CSV file of feature columns")
    p.add_argument("-o", "--output", metavar="OUT.csv", help="output file (default: stdout)")
    _add_no_verify(p)
    _add_threads(p)
    p.set_defaults(handler=_cmd_predict)


def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help="architecture, parameter counts and metadata of a file",
                       description="Describe a model file or checkpoint: layers with "
                       "parameter counts, and the metadata saved with it.")
    p.add_argument("model", metavar="MODEL", help="a model file or checkpoint")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    _add_no_verify(p)
    p.set_defaults(handler=_cmd_info)


def _add_explain(sub: Any) -> None:
    p = sub.add_parser("explain", help="one training step with real numbers: the chain rule",
                       description="Walk one gradient-descent step of a small network: the "
                       "forward pass, the error, every weight's gradient by the chain rule "
                       "(next to autograd and finite differences) and the update.")
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="a small model file (Linear layers with sigmoid/tanh/relu, such as "
                   "`chainrule train --model mlp:4` writes: its input standardisation is "
                   "applied to --x, dropout left out); default: the classic 2-2-1 sigmoid "
                   "network")
    p.add_argument("--x", metavar="X1,X2,...", help="the input example, raw (default: "
                   "0.05,0.10)")
    p.add_argument("--y", metavar="Y1,...", help="its target (default: 0.01)")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate (default: 0.5)")
    p.add_argument("--format", choices=("text", "markdown", "html"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to a file (default: stdout)")
    _add_no_verify(p)
    p.set_defaults(handler=_cmd_explain)


def _add_experiment(sub: Any) -> None:
    p = sub.add_parser("experiment", help="run a bundled experiment (when installed)",
                       description="Run one of chainrule's experiments (vanishing gradients, "
                       "learning rates, ...). Without NAME: list them.")
    p.add_argument("name", metavar="NAME", nargs="?", help="the experiment to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="options for the experiment")
    p.set_defaults(handler=_cmd_experiment)


def _add_report(sub: Any) -> None:
    p = sub.add_parser("report", help="write a run folder's report.html (for older runs)",
                       description="Write report.html of a run folder from its files "
                       "(config.json, summary.json, history.json, model.safetensors): one "
                       "self-contained page with the curves, test results, model, data, "
                       "settings and timing. chainrule train writes it already; this "
                       "rebuilds it, e.g. for a run made by an older chainrule.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of chainrule train")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the page here instead of RUN_DIR/report.html")
    p.set_defaults(handler=_cmd_report)


def _add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="write a model file as ONNX (chainrule[onnx])",
                       description="Write a saved model as an ONNX graph that onnxruntime "
                       "and other runtimes run, with a dynamic batch dimension. Needs the "
                       "onnx package: pip install 'chainrule[onnx]'.")
    p.add_argument("model", metavar="MODEL", help="a model file (model.safetensors)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument("--input-shape", metavar="D1,D2,...", help="one sample's shape, without "
                   "the batch (default: the input_shape recorded in the file)")
    p.add_argument("--input-dtype", choices=("float32", "float64", "int64"),
                   help="the input's dtype (default: int64 for token ids, else the model's)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset, 17 to 21 (default 17)")
    p.add_argument("--static-batch", action="store_true",
                   help="fix the batch size at 1 instead of a symbolic dimension")
    p.set_defaults(handler=_cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """The ``chainrule`` argument parser (all subcommands)."""
    from chainrule import __version__

    parser = _Parser(prog=PROG, description="Train, evaluate and inspect neural networks "
                     "trained by backpropagation implemented on NumPy.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_add_train, _add_evaluate, _add_predict, _add_info, _add_explain,
                _add_experiment, _add_report, _add_export):
        add(sub)
    parser.subparsers = sub.choices  # type: ignore[attr-defined]  (for one-line errors)
    return parser


# ---- handlers: each turns parsed arguments into one library call --------------------------

def _cmd_train(args: argparse.Namespace) -> int:
    from chainrule.train.config import TrainConfig, read_config_file
    from chainrule.train.run import resume_config, run_training

    flags = {k: v for k, v in vars(args).items() if k not in ("handler", "command", "config")}
    if "verify" in flags and "resume" not in flags:
        raise CLIError("--no-verify applies to --resume (a new run reads no checkpoint)")
    if "resume" in flags:
        # the run's own config.json is the base; flags may change only what does not alter
        # the run's course (resume_config refuses the others by name)
        if getattr(args, "config", None):
            raise CLIError("--resume takes the settings from the run folder; drop --config")
        config, _, _ = resume_config(flags.pop("resume"), flags)
        flags = {}
    else:
        config = TrainConfig()
        if getattr(args, "config", None):
            config = config.updated(read_config_file(args.config), args.config)
    config = config.updated(flags, "command line")
    result = run_training(config, stream=sys.stdout)
    return 0 if result is not None else 1


def _use_threads(args: argparse.Namespace) -> None:
    from chainrule.backend import default_num_threads, set_num_threads

    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise CLIError(f"--threads must be >= 1, got {threads}")
    set_num_threads(threads or default_num_threads())


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from chainrule.train.inference import evaluate_file, format_results

    _use_threads(args)
    results = evaluate_file(args.model, data=args.data, target=args.target, split=args.split,
                            batch_size=args.batch_size, verify=args.verify)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(format_results(results))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from chainrule.train.inference import predict_file

    _use_threads(args)
    n = predict_file(args.model, args.input, args.output, verify=args.verify)
    if args.output:
        print(f"wrote {n} predictions to {args.output}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from chainrule.train.inference import describe_file

    print(describe_file(args.model, as_json=args.json, verify=args.verify))
    return 0


def _numbers(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"--{what} takes comma-separated numbers, got {text!r}") from None


def _cmd_explain(args: argparse.Namespace) -> int:
    try:
        from chainrule.diagnostics import explain
    except ImportError:
        raise CLIError("the explainer (chainrule.diagnostics.explain) is not available in "
                       "this install") from None
    model = None
    if args.model:
        from chainrule import io

        model = io.load(args.model, verify=args.verify)
    result = explain(model, x=_numbers(args.x, "x"), y=_numbers(args.y, "y"), lr=args.lr,
                     format=args.format)
    _write_text(str(result), args.output, *([args.model] if args.model else []))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from chainrule.io.onnx_export import export_onnx_file

    shape = None
    if args.input_shape is not None:
        try:
            shape = [int(v) for v in args.input_shape.split(",") if v.strip()]
        except ValueError:
            raise CLIError(f"--input-shape takes comma-separated sizes, got "
                           f"{args.input_shape!r}") from None
    print(export_onnx_file(args.model, args.onnx, shape, args.opset, not args.static_batch,
                           args.input_dtype))
    return 0


def _experiment_scripts() -> dict[str, Any]:
    """Experiment scripts by name: ``examples/experiments/*.py`` of the source checkout
    chainrule itself runs from (the experiments are not installed). Never the working
    directory's: ``chainrule experiment NAME`` must not run whatever script lies there."""
    from pathlib import Path

    import chainrule

    folder = Path(chainrule.__file__).resolve().parents[2] / "examples" / "experiments"
    if not folder.is_dir():
        return {}
    return {script.stem: script for script in sorted(folder.glob("*.py"))
            if not script.name.startswith("_")}


def _cmd_experiment(args: argparse.Namespace) -> int:
    # The hook for experiments: a chainrule.experiments module with main(argv) -> status
    # wins; otherwise the example scripts of a source checkout are run.
    import importlib
    import runpy

    try:
        module = importlib.import_module("chainrule.experiments")
    except ImportError:
        module = None
    argv = ([args.name] if args.name else []) + list(args.args or [])
    if module is not None:
        return int(module.main(argv) or 0)
    scripts = _experiment_scripts()
    if not scripts:
        raise CLIError("no experiments found: they live in examples/experiments/ of the "
                       "chainrule source repository; run this from a checkout")
    if args.name is None:
        import ast

        for name, script in scripts.items():
            doc = (ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or "")
            print(f"{name:<16} {doc.splitlines()[0] if doc else ''}")
        return 0
    if args.name not in scripts:
        raise CLIError(f"unknown experiment {args.name!r}; known: {', '.join(scripts)}")
    script = scripts[args.name]
    saved = sys.argv
    sys.argv = [str(script), *(args.args or [])]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from chainrule.train.report import write_report

    if args.output:
        from chainrule.train.inference import check_writable

        check_writable(args.output)
    print(f"wrote {write_report(args.run_dir, args.output)}")
    return 0


def _write_text(text: str, path: str | None, *inputs: str) -> None:
    if path is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from chainrule.io import atomic_write
    from chainrule.train.inference import check_writable

    check_writable(path, *inputs)
    with atomic_write(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    print(f"wrote {path}")


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    if isinstance(err, MemoryError) and "memory" not in text.lower():
        text = f"out of memory: {text}"
    if isinstance(err, KeyError) and text.startswith(("'", '"')):
        text = f"missing key {text}"
    if isinstance(err, FileNotFoundError) and err.filename and str(err.filename) not in text:
        text = f"{text}: {err.filename}"
    elif isinstance(err, OSError) and err.strerror and err.filename:
        text = f"{err.filename}: {err.strerror}"
    return " ".join(text.split())


def _rank_prefix() -> str:
    """``[rank r] `` on ranks other than 0 of a distributed run (errors say where)."""
    dist = sys.modules.get("chainrule.distributed")
    if dist is None or not dist.is_initialized() or dist.get_rank() == 0:
        return ""
    return f"[rank {dist.get_rank()}] "


def _one_line_warnings(prog: str) -> None:
    """Show library warnings (e.g. a resume under another thread count) as one line each."""
    import warnings

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        sys.stderr.write(f"{prog}: warning: {' '.join(str(message).split())}\n")

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command; returns the exit status.

    Example:
        >>> main(["info", "--help"])  # doctest: +SKIP
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "handler", None) is None:
        parser.error("give a command: train, evaluate, predict, info, explain, experiment, "
                     "report or export")
    prog = f"{PROG} {args.command}"
    if unknown and args.command != "experiment":
        parser.subparsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    import warnings

    shown = warnings.showwarning
    _one_line_warnings(prog)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except BrokenPipeError:
        return 141
    except (CLIError, ValueError, TypeError, KeyError, OSError, ImportError,
            RuntimeError, MemoryError) as err:
        # ModelFileError is a ValueError. CHAINRULE_DEBUG=1 shows the traceback instead.
        if os.environ.get("CHAINRULE_DEBUG"):
            raise
        text = _rank_prefix() + _one_line(err)
        if args.command != "experiment":  # the library's hint, in this command's terms
            text = text.replace("pass verify=False to read it anyway", "--no-verify reads it "
                                "anyway")
        sys.stderr.write(f"{prog}: error: {text}\n")
        return 1
    finally:
        warnings.showwarning = shown


__all__ = ["CLIError", "build_parser", "main"]
