"""ArchSpec: an architecture as data, with JSON and compact-string codecs and a canonical digest.

The compact string reads left to right like the network, e.g. MobileNetV2 (middle cut)::

224px w1.0 in3 cls1000 relu6 | stem:32 k3 s2 p1 bn1 | ir:16x1 s1 e1.0 | ir:24x2 s2 e6.0 | ... | head:1280 linear d0.2

Global fields, then ``stem:OUT`` (kernel, stride, padding, BN, optional ``maxpool`` or
``maxpool-ceil``), one ``BLOCK:OUTxDEPTH`` token per stage (stride and block options as
``CODEvalue``), then ``head:CONV_CHS CLASSIFIER dDROPOUT``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nas.blocks import ACTIVATIONS, BLOCKS, OPTION_CODES, OPTIONS

STEM_POOLS = ("none", "max", "max_ceil")  # max: 3x3/2 pad 1 (ShuffleNet); max_ceil: SqueezeNet's
CLASSIFIERS = ("linear", "conv")  # conv: SqueezeNet's 1x1 conv classifier before the pooling
_CODE_TO_OPTION = {code: name for name, code in OPTION_CODES.items()}
_POOL_WORDS = {"max": "maxpool", "max_ceil": "maxpool-ceil"}


def make_divisible(value: float, divisor: int = 4) -> int:
    """Round a scaled channel count to a multiple of ``divisor``, never below 90% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _coerce(block: str, name: str, value: Any) -> bool | int | float:
    default = OPTIONS[block][name]
    kind = type(default)
    if kind is bool:
        if value not in (0, 1):  # True/False/0/1
            raise ValueError(f"option {name}={value!r} of block {block!r} must be a boolean")
        return bool(value)
    if kind is int and not float(value).is_integer():
        raise ValueError(f"option {name}={value!r} of block {block!r} must be an integer")
    return kind(value)


@dataclass(frozen=True)
class StemSpec:
    out_chs: int
    kernel_size: int = 3
    stride: int = 2
    padding: int = 1
    bn: bool = True  # False: conv with bias and no BN (SqueezeNet)
    pool: str = "none"  # one of STEM_POOLS

    def __post_init__(self) -> None:
        if self.pool not in STEM_POOLS:
            raise ValueError(f"stem pool must be one of {STEM_POOLS}, got {self.pool!r}")
        if self.out_chs < 1 or self.kernel_size < 1 or self.stride not in (1, 2) or self.padding < 0:
            raise ValueError(
                f"bad stem: out_chs={self.out_chs}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
            )


@dataclass(frozen=True)
class StageSpec:
    """``depth`` blocks of one type; the first has ``stride``, the others stride 1."""

    block: str
    out_chs: int
    depth: int = 1
    stride: int = 1
    # Block options (see nas.blocks.OPTIONS); a mapping is accepted and stored sorted.
    options: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"unknown block {self.block!r}; known: {sorted(BLOCKS)}")
        if self.out_chs < 1 or self.depth < 1 or self.stride not in (1, 2):
            raise ValueError(
                f"bad {self.block} stage: out_chs={self.out_chs}, depth={self.depth}, stride={self.stride}"
            )
        items = self.options.items() if isinstance(self.options, Mapping) else self.options
        options = {}
        for name, value in items:
            if name not in OPTIONS[self.block]:
                raise ValueError(
                    f"unknown option {name!r} for block {self.block!r}; known: {sorted(OPTIONS[self.block])}"
                )
            options[name] = _coerce(self.block, name, value)
        object.__setattr__(self, "options", tuple(sorted(options.items())))

    @property
    def opts(self) -> dict[str, Any]:
        """The options with the block's defaults filled in."""
        return {**OPTIONS[self.block], **dict(self.options)}


@dataclass(frozen=True)
class HeadSpec:
    conv_chs: int = 0  # 0: none; else a 1x1 conv + BN + act before pooling (MobileNetV2, ShuffleNetV2)
    classifier: str = "linear"  # one of CLASSIFIERS
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"head classifier must be one of {CLASSIFIERS}, got {self.classifier!r}")
        if self.conv_chs < 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"bad head: conv_chs={self.conv_chs}, dropout={self.dropout}")
        object.__setattr__(self, "dropout", float(self.dropout))


@dataclass(frozen=True)
class ArchSpec:
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head: HeadSpec = HeadSpec()
    resolution: int = 32  # input height = width, pixels
    width_mult: float = 1.0  # MobileNet's width multiplier, applied to stem, stage and head channels
    in_chs: int = 3
    num_classes: int = 10
    act: str = "relu"  # one of nas.blocks.ACTIVATIONS, used by every block

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "width_mult", float(self.width_mult))
        if not self.stages:
            raise ValueError("an architecture needs at least one stage")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")
        if self.resolution < 1 or self.in_chs < 1 or self.num_classes < 2 or not self.width_mult > 0:
            raise ValueError(
                f"bad architecture: resolution={self.resolution}, in_chs={self.in_chs}, "
                f"num_classes={self.num_classes}, width_mult={self.width_mult}"
            )

    def chs(self, chs: int) -> int:
        """A channel count after the width multiplier."""
        return chs if self.width_mult == 1.0 else make_divisible(chs * self.width_mult)

    def head_chs(self) -> int:
        # As in MobileNetV2, the last conv only ever grows with the multiplier.
        return self.head.conv_chs if self.width_mult <= 1.0 else self.chs(self.head.conv_chs)

    # --- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stages"] = [{**dataclasses.asdict(s), "options": dict(s.options)} for s in self.stages]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchSpec:
        fields = dict(data)
        fields["stem"] = StemSpec(**fields["stem"])
        fields["head"] = HeadSpec(**fields.get("head", {}))
        fields["stages"] = tuple(StageSpec(**s) for s in fields["stages"])
        return cls(**fields)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            return cls.from_dict(json.loads(text))
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an ArchSpec JSON: {exc}") from None

    # --- compact string --------------------------------------------------------------------
    def to_string(self) -> str:
        s = self.stem
        stem = f"stem:{s.out_chs} k{s.kernel_size} s{s.stride} p{s.padding} bn{int(s.bn)}"
        if s.pool != "none":
            stem += " " + _POOL_WORDS[s.pool]
        parts = [f"{self.resolution}px w{self.width_mult!r} in{self.in_chs} cls{self.num_classes} {self.act}", stem]
        for st in self.stages:
            opts = "".join(f" {OPTION_CODES[k]}{_num(v)}" for k, v in st.options)
            parts.append(f"{st.block}:{st.out_chs}x{st.depth} s{st.stride}{opts}")
        parts.append(f"head:{self.head.conv_chs} {self.head.classifier} d{self.head.dropout!r}")
        return " | ".join(parts)

    @classmethod
    def from_string(cls, text: str) -> ArchSpec:
        try:
            return _parse(text)
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"cannot parse arch string {text!r}: {exc}") from None

    def __str__(self) -> str:
        return self.to_string()

    # --- identity ---------------------------------------------------------------------------
    def canonical(self) -> ArchSpec:
        """The same network with the width multiplier folded into the channels and every block
        option spelled out, so specs that build the same network compare equal."""
        stages = tuple(StageSpec(st.block, self.chs(st.out_chs), st.depth, st.stride, st.opts) for st in self.stages)
        return dataclasses.replace(
            self,
            stem=dataclasses.replace(self.stem, out_chs=self.chs(self.stem.out_chs)),
            stages=stages,
            head=dataclasses.replace(self.head, conv_chs=self.head_chs()),
            width_mult=1.0,
        )

    def digest(self) -> str:
        """A short hash of the canonical form: same network => same digest."""
        return hashlib.sha256(self.canonical().to_json().encode()).hexdigest()[:16]


def _num(value: bool | int | float) -> str:
    return str(int(value)) if isinstance(value, bool) else repr(value)


def _value(text: str) -> int | float:
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _codes(tokens: list[str]) -> dict[str, int | float]:
    out = {}
    for tok in tokens:
        m = re.fullmatch(r"([a-z][a-z0-9]*?)(-?\d[\d.e+-]*|-?inf|nan)", tok)
        if not m:
            raise ValueError(f"bad token {tok!r}")
        out[m.group(1)] = _value(m.group(2))
    return out


def _parse(text: str) -> ArchSpec:
    parts = [p.split() for p in text.split("|")]
    head_part, glob, stem_part, stage_parts = parts[-1], parts[0], parts[1], parts[2:-1]

    res = re.fullmatch(r"(\d+)px", glob[0])
    if not res or len(glob) != 5:
        raise ValueError("expected 'RESpx wMULT inCHS clsN ACT' first")
    g = _codes(glob[1:4])
    act = glob[4]

    name, out = stem_part[0].split(":")
    if name != "stem":
        raise ValueError("expected 'stem:OUT' second")
    pool_words = {w: p for p, w in _POOL_WORDS.items()}
    pools = [pool_words[t] for t in stem_part[1:] if t in pool_words]
    sc = _codes([t for t in stem_part[1:] if t not in pool_words])
    stem = StemSpec(int(out), sc["k"], sc["s"], sc["p"], bool(sc["bn"]), pools[0] if pools else "none")

    stages = []
    for tokens in stage_parts:
        block, size = tokens[0].split(":")
        out_chs, depth = size.split("x")
        codes = _codes(tokens[1:])
        stride = codes.pop("s")
        options = {_CODE_TO_OPTION[c]: v for c, v in codes.items()}
        stages.append(StageSpec(block, int(out_chs), int(depth), stride, options))

    name, conv_chs = head_part[0].split(":")
    if name != "head" or len(head_part) != 3:
        raise ValueError("expected 'head:CONV_CHS CLASSIFIER dDROPOUT' last")
    head = HeadSpec(int(conv_chs), head_part[1], _codes(head_part[2:])["d"])
    return ArchSpec(stem, tuple(stages), head, int(res.group(1)), g["w"], g["in"], g["cls"], act)
