from __future__ import annotations

import pytest

from bench.machine import cpu_model
from bench.state_throughput import parse_wrk
from bench.stats import human

WRK = """Running 5s test @ http://127.0.0.1:8000/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  400.00us   9.00ms   90.00%
    Req/Sec     7.20k   300.00     7.60k    80.00%
  Latency Distribution
     50%  790.00us
     75%    1.20ms
     90%    3.40ms
     99%    1.05s
  40310 requests in 5.01s, 120.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   8045.44
Transfer/sec:     23.95MB
"""


def test_wrk_output_is_parsed_into_milliseconds() -> None:
    figures = parse_wrk(WRK)
    assert figures["p50_ms"] == pytest.approx(0.79)
    assert figures["p90_ms"] == pytest.approx(3.4)
    assert figures["p99_ms"] == pytest.approx(1050.0)
    assert figures["rps"] == 8045.44 and figures["n"] == 40310 and figures["errors"] == 3


def test_wrk_output_without_a_rate_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_cpu_model_from_cpuinfo() -> None:
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\n"
    assert cpu_model(text) == "AMD EPYC 7B13"
    assert cpu_model("processor\t: 0\n") == "unknown"


def test_human_summary_line() -> None:
    line = human("x", {"n": 3.0, "p50_ms": 1.5, "p99_ms": 2.0, "rps": 10.0})
    assert line == "x: 10 req/s  p50 1.5 ms  p99 2 ms  (n=3)"
