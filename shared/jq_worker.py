"""The jq worker process of :mod:`shared.jq_sandbox`
(``python -I jq_worker.py <memory bytes> <max reply bytes> <cpu seconds per evaluation>``).

Standalone on purpose: it imports nothing of the project and is started with an empty environment. Before it
answers it lowers its priority, limits itself (address space, file size, file descriptors, processes, CPU
time per evaluation) and arranges to die with its parent. It talks only over stdin/stdout, in
length-prefixed frames:

    request  ``<program bytes> <document bytes> <max results>\\n`` + program (UTF-8) + document (JSON text)
    reply    ``<reply bytes>\\n`` + ``{"ok": [results…]}`` or ``{"error": "message"}``

It answers ``ready\\n`` once jq is imported, so start-up never counts against a program's time limit.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import resource
import signal
import sys
from typing import Any, BinaryIO

PR_SET_PDEATHSIG = 1


def _limit(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _die_with_parent() -> None:
    """SIGKILL us when the parent dies (Linux), so an endless program cannot outlive it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        raise SystemExit(0)


def _cpu_budget(seconds: int) -> None:
    """Let the next evaluation use at most ``seconds`` of CPU (SIGXCPU ends us after that): a second
    wall behind the parent's wall-clock limit."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _finite(value: Any) -> Any:
    """What jq itself prints for non-finite numbers (JSON has none): nan → null, ±inf → ±DBL_MAX."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else math.copysign(sys.float_info.max, value)
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _reply(out: BinaryIO, message: dict[str, Any], max_bytes: int) -> None:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > max_bytes:
        body = json.dumps({"error": f"jq: result larger than {max_bytes} bytes"}).encode()
    out.write(b"%d\n" % len(body) + body)
    out.flush()


def serve(memory_bytes: int, max_reply_bytes: int, cpu_seconds: int) -> None:
    _die_with_parent()
    import jq

    compile_program = functools.lru_cache(maxsize=128)(jq.compile)
    os.chdir("/")
    # The parent reads our stderr only until "ready"; afterwards nothing may write there (a full pipe would
    # block us), and jq's own messages (out of memory) must not reach the parent's logs verbatim.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    _limit(resource.RLIMIT_AS, memory_bytes)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NPROC, 0)
    _limit(resource.RLIMIT_NOFILE, 8)
    os.nice(10)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b"ready\n")
    stdout.flush()
    while True:
        header = stdin.readline()
        if not header:
            return
        program_size, document_size, max_results = (int(x) for x in header.split())
        program = _read_exactly(stdin, program_size).decode()
        document = _read_exactly(stdin, document_size).decode()
        _cpu_budget(cpu_seconds)
        try:
            compiled = compile_program(program)
        except Exception as error:  # every compile failure is the program's
            _reply(stdout, {"error": str(error)}, max_reply_bytes)
            continue
        results: list[Any] = []
        try:
            for item in compiled.input_text(document):
                results.append(item)
                if len(results) >= max_results:
                    break
        except Exception as error:  # runtime errors of the program
            _reply(stdout, {"error": str(error)}, max_reply_bytes)
            continue
        _reply(stdout, {"ok": _finite(results)}, max_reply_bytes)


if __name__ == "__main__":
    with contextlib.suppress(EOFError, KeyboardInterrupt, BrokenPipeError):
        serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
