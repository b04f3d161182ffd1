"""Model files, architecture specs and training checkpoints — safetensors, never pickle.

- ``save(model, path, metadata)`` / ``load(path)`` / ``load_with_metadata(path)``: one
  safetensors file with the weights (PyTorch's ``state_dict`` keys), the architecture
  (``to_spec``) and your metadata; PyTorch reads the weights directly.
- ``save_state_dict`` / ``load_state_dict_file``: weights only, for any model.
- ``save_checkpoint`` / ``load_checkpoint``: model + optimizer + scheduler + trainer
  state (epoch, RNG states, …), bit-exact, for resuming training.
- ``register_architecture``: make your own layers describable.
- ``atomic_write`` / ``atomic_write_bytes`` / ``atomic_path``: crash-safe file writes;
  ``remove_stale_temporaries(folder)`` removes what killed writers left behind.
- ``export_onnx(model, example_input, path)``: the model as an ONNX graph (the ``[onnx]``
  extra); ``register_onnx_converter`` teaches it a layer of your own.
- ``verify_file(path)``: check a file completely (checksums, architecture against
  tensors) without loading it. Every loader checks the SHA-256 checksums chainrule
  writes into its files; ``verify=False`` skips that.

Example:
    >>> import os, tempfile
    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 4), cr.nn.Tanh(), cr.nn.Linear(4, 1))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
    >>> cr.io.save(net, path)
    >>> bool((cr.io.load(path)(cr.ones(1, 2)).data == net(cr.ones(1, 2)).data).all())
    True
"""

from chainrule.io._file import UnverifiedFileWarning
from chainrule.io.architecture import (
    from_spec,
    register_architecture,
    registered_architectures,
    to_spec,
)
from chainrule.io.atomic import (
    atomic_path,
    atomic_write,
    atomic_write_bytes,
    remove_stale_temporaries,
)
from chainrule.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from chainrule.io.model_file import (
    FileInfo,
    ModelFileError,
    inspect_file,
    load,
    load_state_dict_file,
    load_with_metadata,
    read_metadata,
    save,
    save_state_dict,
    verify_file,
)
from chainrule.io.onnx_export import (
    OnnxExportError,
    export_onnx,
    register_onnx_converter,
)

__all__ = [
    "Checkpoint", "FileInfo", "ModelFileError", "atomic_path", "atomic_write",
    "atomic_write_bytes", "from_spec", "inspect_file", "load", "load_checkpoint",
    "load_state_dict_file", "load_with_metadata", "read_metadata", "register_architecture",
    "registered_architectures", "save", "save_checkpoint", "save_state_dict", "to_spec",
    # file trust (issue 11)
    "UnverifiedFileWarning", "remove_stale_temporaries", "verify_file",
    # ecosystem (issue 13): ONNX export
    "OnnxExportError", "export_onnx", "register_onnx_converter",
]
