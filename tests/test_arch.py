from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas import ArchSpec, HeadSpec, StageSpec, StemSpec, build_model, count_cost
from nas.arch import CLASSIFIERS, STEM_POOLS
from nas.blocks import ACTIVATIONS, OPTIONS
from nas.references import REFERENCES

OPTION_VALUES = {
    "squeeze_ratio": st.floats(0.01, 1.0),
    "expand3x3_ratio": st.floats(0.01, 0.99),
    "bn": st.booleans(),
    "exp_ratio": st.floats(1.0, 8.0),
    "kernel_size": st.sampled_from([3, 5, 7]),
}


@st.composite
def stages(draw: st.DrawFn) -> StageSpec:
    block = draw(st.sampled_from(sorted(OPTIONS)))
    names = draw(st.lists(st.sampled_from(sorted(OPTIONS[block])), unique=True))
    options = {name: draw(OPTION_VALUES[name]) for name in names}
    return StageSpec(block, draw(st.integers(1, 512)), draw(st.integers(1, 6)), draw(st.sampled_from([1, 2])), options)


@st.composite
def specs(draw: st.DrawFn) -> ArchSpec:
    stem = StemSpec(
        draw(st.integers(1, 128)),
        draw(st.sampled_from([1, 3, 5, 7])),
        draw(st.sampled_from([1, 2])),
        draw(st.integers(0, 3)),
        draw(st.booleans()),
        draw(st.sampled_from(STEM_POOLS)),
    )
    head = HeadSpec(draw(st.integers(0, 2048)), draw(st.sampled_from(CLASSIFIERS)), draw(st.floats(0.0, 0.9)))
    return ArchSpec(
        stem,
        tuple(draw(st.lists(stages(), min_size=1, max_size=6))),
        head,
        draw(st.integers(1, 512)),
        draw(st.floats(0.05, 4.0)),
        draw(st.integers(1, 4)),
        draw(st.integers(2, 1000)),
        draw(st.sampled_from(sorted(ACTIVATIONS))),
    )


@settings(max_examples=300, deadline=None)
@given(specs())
def test_json_round_trips_exactly(spec: ArchSpec) -> None:
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec
    assert again.to_json() == spec.to_json()


@settings(max_examples=300, deadline=None)
@given(specs())
def test_string_round_trips_exactly(spec: ArchSpec) -> None:
    text = spec.to_string()
    assert ArchSpec.from_string(text) == spec
    assert ArchSpec.from_string(text).to_string() == text


@settings(max_examples=100, deadline=None)
@given(specs())
def test_digest_is_a_function_of_the_canonical_form(spec: ArchSpec) -> None:
    canonical = spec.canonical()
    assert canonical.digest() == spec.digest()
    assert canonical.canonical() == canonical
    assert ArchSpec.from_string(spec.to_string()).digest() == spec.digest()


def test_references_round_trip() -> None:
    for spec in REFERENCES.values():
        assert ArchSpec.from_string(spec.to_string()) == spec
        assert ArchSpec.from_json(spec.to_json()) == spec


def test_default_options_spelled_out_or_not_give_one_digest() -> None:
    base = REFERENCES["mobilenet_v2"]
    spelled = dataclasses.replace(base, stages=tuple(dataclasses.replace(s, options=s.opts) for s in base.stages))
    assert spelled != base
    assert spelled.digest() == base.digest()


def test_width_multiplier_folded_into_channels_gives_one_digest() -> None:
    half = ArchSpec(StemSpec(32), (StageSpec("dwsep", 64, 2, 2),), resolution=32, width_mult=0.5)
    folded = ArchSpec(StemSpec(16), (StageSpec("dwsep", 32, 2, 2),), resolution=32)
    assert half.digest() == folded.digest()
    assert count_cost(half) == count_cost(folded)
    assert sum(p.numel() for p in build_model(half).parameters()) == count_cost(folded).params


def test_different_networks_have_different_digests() -> None:
    digests = {spec.digest() for spec in REFERENCES.values()}
    assert len(digests) == len(REFERENCES)
    base = REFERENCES["shufflenet_v2_x0_5"]
    for changed in (
        dataclasses.replace(base, resolution=160),
        dataclasses.replace(base, num_classes=10),
        dataclasses.replace(base, act="relu6"),
        dataclasses.replace(base, stages=(*base.stages[:2], dataclasses.replace(base.stages[2], depth=5))),
        dataclasses.replace(base, stages=(*base.stages[:2], StageSpec("shuffle", 192, 4, 2, {"kernel_size": 5}))),
    ):
        assert changed.digest() != base.digest()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot parse arch string"),
        ("32px w1.0 in3 cls10 relu | stem:8 k3 s1 p1 bn1 | warp:8x1 s1 | head:0 linear d0.0", "unknown block"),
        ("32px w1.0 in3 cls10 relu | stem:8 k3 s1 p1 bn1 | ir:8x1 s1 q4 | head:0 linear d0.0", "'q'"),
        ("32px w1.0 in3 cls10 tanh | stem:8 k3 s1 p1 bn1 | ir:8x1 s1 | head:0 linear d0.0", "act must be"),
    ],
)
def test_bad_strings_raise_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ArchSpec.from_string(text)


def test_bad_values_raise_value_error() -> None:
    with pytest.raises(ValueError, match="unknown option 'exp_ratio' for block 'fire'"):
        StageSpec("fire", 16, options={"exp_ratio": 6})
    with pytest.raises(ValueError, match="kernel_size=3.5 .* must be an integer"):
        StageSpec("dwsep", 16, options={"kernel_size": 3.5})
    with pytest.raises(ValueError, match="not an ArchSpec JSON"):
        ArchSpec.from_json('{"stem": {}}')
