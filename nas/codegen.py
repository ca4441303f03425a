"""ArchSpec -> a standalone PyTorch module that imports only torch.

The generated file holds verbatim copies of the block classes it uses (from ``nas.blocks``) and
of ``nas.build.Net``, plus a stage table, so it builds the very same module tree as
``build_model(spec)`` and loads its ``state_dict`` with no key mismatch.
"""

from __future__ import annotations

import functools
import inspect

from nas import blocks
from nas.arch import ArchSpec
from nas.build import Net, net_tables

_HELPERS = (blocks.conv_bn_act, blocks.channel_shuffle, blocks._check, blocks._check_common)

# Every trial of a search uploads its module: read each class's source once per process.
_source = functools.cache(inspect.getsource)

_MAIN = '''
def build() -> nn.Module:
    """The network, freshly initialised (load the trained weights with load_state_dict)."""
    return Net(blocks=BLOCKS, **TABLE)


if __name__ == "__main__":
    from torch.utils.flop_counter import FlopCounterMode

    model = build().eval()
    x = torch.randn(1, IN_CHANNELS, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        logits = model(x)
    assert logits.shape == (1, NUM_CLASSES), logits.shape
    params = sum(p.numel() for p in model.parameters())
    print(f"output {tuple(logits.shape)}  params {params:,}  FLOPs (MACs) {counter.get_total_flops() // 2:,}")
'''


def module_source(spec: ArchSpec, *, doc: str, mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    """The text of a self-contained Python module that builds ``spec``."""
    tables = net_tables(spec)
    used = sorted({row[0] for row in tables["stages"]})
    classes = [blocks.BLOCKS[name] for name in used]
    table = "".join(f"    {k!r}: {v!r},\n" for k, v in tables.items() if k != "stages")
    table += "    'stages': [  # one row per block: (block, in_chs, out_chs, stride, options)\n"
    table += "".join(f"        {row!r},\n" for row in tables["stages"]) + "    ],\n"
    parts = [
        f'"""{doc.strip()}\n"""\n',
        "from __future__ import annotations\n\nfrom typing import Any\n\nimport torch\nfrom torch import nn\n",
        f"INPUT_SIZE = {spec.resolution}  # pixels, square",
        f"IN_CHANNELS = {spec.in_chs}",
        f"NUM_CLASSES = {spec.num_classes}",
        "# The trainer fed images scaled to [0, 1], then normalised per channel with these:",
        f"MEAN = {tuple(mean)!r}",
        f"STD = {tuple(std)!r}",
        f"ARCH = {spec.to_string()!r}\n",
        "ACTIVATIONS = {" + ", ".join(f'"{k}": nn.{v.__name__}' for k, v in blocks.ACTIVATIONS.items()) + "}\n",
        *(_source(fn) for fn in _HELPERS),
        *(_source(cls) for cls in classes),
        _source(Net),
        "BLOCKS = {" + ", ".join(f"{n!r}: {blocks.BLOCKS[n].__name__}" for n in used) + "}",
        "TABLE: dict[str, Any] = {\n" + table + "}\n",
        _MAIN,
    ]
    return "\n\n".join(parts)


def trial_module_source(
    spec: ArchSpec,
    *,
    study_name: str,
    number: int,
    accuracy: float,
    flops: int,
    params: int,
    epochs: int,
    dataset: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    name: str,
    seeds: int = 1,
    interval: tuple[float, float] | None = None,
    latency: str | None = None,
    final: str | None = None,
) -> str:
    """``module_source`` with a docstring that says where the architecture came from, and on what
    evidence its accuracy rests (epochs, seeds, 95% interval); ``latency`` where it was measured
    (figure and setup, e.g. '1.2 ms (torch, 1 thread, <machine>)'); ``final``: its test accuracy
    after final training, where it has one."""
    runs = f"mean of {seeds} seeds" if seeds > 1 else "one seed"
    spread = f", 95% interval {interval[0]:.4f}..{interval[1]:.4f}" if interval else ""
    doc = (
        f"{study_name} trial {number}, exported by lightweight NAS.\n\n"
        f"arch:      {spec.to_string()}\n"
        + (f"test:      {final}\n" if final else "")
        + f"accuracy:  {accuracy:.4f} (validation; proxy training of {epochs} epochs on {dataset}, {runs}{spread})\n"
        f"FLOPs:     {flops:,} multiply-accumulates at {spec.resolution}x{spec.resolution}\n"
        f"params:    {params:,}\n"
        + (f"latency:   {latency}, batch 1\n" if latency else "")
        + f"study:     {study_name}\n"
        f"trial:     {number}\n\n"
        f"Use: model = build(); model.load_state_dict(torch.load('{name}.pt')); feed images of\n"
        "INPUT_SIZE x INPUT_SIZE with IN_CHANNELS channels, scaled to [0, 1] and normalised by MEAN/STD.\n"
        f"Run this file to check it: python {name}.py"
    )
    return module_source(spec, doc=doc, mean=mean, std=std)
