from __future__ import annotations

import re

from mecha.observability.tracing import next_traceparent, trace_id

_SHAPE = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def test_continues_the_callers_trace_with_a_new_span() -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    outgoing = next_traceparent(incoming)
    assert _SHAPE.fullmatch(outgoing)
    assert trace_id(outgoing) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert outgoing.split("-")[2] != "00f067aa0ba902b7"
    assert outgoing.endswith("-01")


def test_starts_a_sampled_trace_when_absent_or_malformed() -> None:
    for incoming in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"):
        outgoing = next_traceparent(incoming)
        assert _SHAPE.fullmatch(outgoing)
        assert outgoing.endswith("-01")
        assert trace_id(outgoing) != "0" * 32


def test_new_ids_differ() -> None:
    assert len({trace_id(next_traceparent(None)) for _ in range(100)}) == 100


def test_tidies_case_and_whitespace_of_the_callers_traceparent() -> None:
    incoming = " 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00 "
    outgoing = next_traceparent(incoming)
    assert trace_id(outgoing) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert outgoing.endswith("-00")


def test_span_ids_differ_across_many_draws() -> None:
    # More than one bulk draw of random digits.
    spans = {next_traceparent(None).split("-")[2] for _ in range(1000)}
    assert len(spans) == 1000
    assert all(_SHAPE.fullmatch(f"00-{'1' * 32}-{span}-01") for span in spans)


def test_malformed_traceparents_start_a_new_trace() -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for bad in (
        good[:-1],  # too short
        good + "0",  # too long
        good.replace("-", "_", 1),  # a dash missing
        good[:10] + "g" + good[11:],  # not hex
        good[:10] + ":" + good[11:],  # just past the digits
        good[:10] + "`" + good[11:],  # just before the letters
        good[:10] + "\u00e9" + good[11:],  # not ASCII, the same length
        good[:10] + "-" + good[11:],  # a dash too many
        "ff" + good[2:],  # the forbidden version
        good[:36] + "0" * 16 + good[52:],  # a zero span id
    ):
        assert trace_id(next_traceparent(bad)) != "4bf92f3577b34da6a3ce929d0e0e4736", bad
