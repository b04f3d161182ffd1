"""chainrule.compat: the PyTorch-name table is looked up, so it cannot lie, and the copy
in docs/ is the table of this code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chainrule import compat

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs",
                   "pytorch_compat.md")


def test_availability_is_looked_up_not_written_down():
    assert compat.lookup("torch.nn", "Linear").available
    assert compat.lookup("torch", "einsum").available
    assert compat.lookup("torch.Tensor", "masked_fill").available
    assert compat.lookup("torch.utils.data", "DataLoader").available
    assert not compat.lookup("torch.nn", "Conv3d").available  # not built (yet)
    with pytest.raises(KeyError, match="unknown namespace"):
        compat.lookup("torch.fft", "fft")


def test_every_note_belongs_to_a_listed_name_that_exists():
    listed = {(ns, name) for ns, names in compat.TORCH_NAMES.items() for name in names}
    for key, note in compat.NOTES.items():
        assert key in listed, f"note for an unlisted name: {key}"
        assert compat.lookup(*key).available, f"note for a missing name: {key}"
        assert note and len(note) < 200


def test_no_name_is_listed_twice():
    for ns, names in compat.TORCH_NAMES.items():
        assert len(names) == len(set(names)), ns


def test_docs_copy_is_the_table_of_this_code():
    with open(DOC, encoding="utf-8") as f:
        on_disk = f.read()
    assert on_disk == compat.table() + "\n", (
        "docs/pytorch_compat.md is stale: run `python -m chainrule.compat > "
        "docs/pytorch_compat.md`")


def test_command_line_prints_the_missing_names_only():
    out = subprocess.run([sys.executable, "-m", "chainrule.compat", "--missing"],
                         capture_output=True, text=True, check=True).stdout
    assert "| `Conv3d` | ✗ |" in out and "| `Linear` |" not in out
