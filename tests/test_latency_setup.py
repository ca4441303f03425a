"""nas.latency_setup: where and how latency is measured, as stored with a study."""

import pytest

from nas.latency_setup import LatencySetup, this_machine


def test_a_setup_round_trips_through_its_dict_and_describes_itself() -> None:
    setup = LatencySetup(this_machine(), threads=2, backend="onnxruntime")
    assert LatencySetup(**setup.as_dict()) == setup
    assert setup.describe() == f"onnxruntime, 2 threads, {this_machine()}"
    assert "cores" in this_machine()


@pytest.mark.parametrize(("kw", "message"), [({"threads": 0}, "latency-threads"), ({"backend": "tvm"}, "backend")])
def test_a_bad_setup_is_refused(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatencySetup("machine", **kw)
