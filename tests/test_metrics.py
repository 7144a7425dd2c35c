"""The queue store families are kept outside prometheus_client's metric classes: what a
scrape shows of them must still be a valid counter and histogram, bucketed as ``le``."""

from __future__ import annotations

import contextlib
import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.queue import QueueFull, StorageUnavailable
from bot.metrics import QUEUE_STORE_BUCKETS, REGISTRY, queue_operation


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def run(op: str, elapsed: float, error: BaseException | None = None) -> None:
    """One operation that takes ``elapsed`` seconds on the clock queue_operation reads."""
    ticks = iter([0.0, elapsed])
    with pytest.MonkeyPatch.context() as patch, contextlib.suppress(Exception):
        patch.setattr(time, "perf_counter", lambda: next(ticks))
        with queue_operation(op, StorageUnavailable):
            if error is not None:
                raise error


def test_an_operation_is_counted_and_falls_in_the_first_bucket_that_holds_it() -> None:
    run("t_buckets", 0.001)  # exactly a bound: le means "at most"
    run("t_buckets", 0.0011)
    run("t_buckets", 7.0)  # above every bound
    assert value("sattva_queue_operations_total", op="t_buckets") == 3
    assert value("sattva_queue_store_seconds_count", op="t_buckets") == 3
    assert value("sattva_queue_store_seconds_sum", op="t_buckets") == pytest.approx(7.0021)
    assert value("sattva_queue_store_seconds_bucket", op="t_buckets", le="0.0005") == 0
    assert value("sattva_queue_store_seconds_bucket", op="t_buckets", le="0.001") == 1
    assert value("sattva_queue_store_seconds_bucket", op="t_buckets", le="0.0025") == 2
    assert value("sattva_queue_store_seconds_bucket", op="t_buckets", le="5.0") == 2
    assert value("sattva_queue_store_seconds_bucket", op="t_buckets", le="+Inf") == 3
    assert value("sattva_queue_store_errors_total", op="t_buckets") == 0


def test_only_the_failure_it_was_told_of_counts_as_an_error() -> None:
    run("t_errors", 0.01, StorageUnavailable("down"))
    run("t_errors", 0.01, QueueFull(3))  # an answer, not an error
    assert value("sattva_queue_operations_total", op="t_errors") == 2
    assert value("sattva_queue_store_seconds_count", op="t_errors") == 2
    assert value("sattva_queue_store_errors_total", op="t_errors") == 1


def test_the_exposition_parses_as_a_counter_and_a_histogram() -> None:
    run("t_text", 0.2)
    families = {
        family.name: family
        for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
    }
    assert families["sattva_queue_operations"].type == "counter"
    assert families["sattva_queue_store_errors"].type == "counter"
    histogram = families["sattva_queue_store_seconds"]
    assert histogram.type == "histogram"
    buckets = [
        sample.labels["le"]
        for sample in histogram.samples
        if sample.name.endswith("_bucket") and sample.labels["op"] == "t_text"
    ]
    assert len(buckets) == len(QUEUE_STORE_BUCKETS) + 1
    assert buckets[-1] == "+Inf"
