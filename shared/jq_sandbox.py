"""User-supplied jq, evaluated where it can reach neither the environment nor the filesystem nor our time.

Every jq program that comes from outside the process — ``/api/state?jq=``, a custom tariff's ``jq``, a
device source's value expression — runs through :class:`JqSandbox`. Three independent walls:

1. **A separate worker process with an empty environment** (``shared/jq_worker.py``, started as
   ``python -I`` with ``env={"HOME": "/nonexistent"}``): the secrets in our environment (JWT secret, MQTT
   password, database URL, tariff tokens) are not in that process at all — not in ``env``/``$ENV``, not in
   its ``/proc/self/environ``. It runs niced, with a bounded address space, no file writes and few file
   descriptors, in ``/``; a program that runs past the time limit is killed with its worker.
2. **A prelude that shadows every builtin reaching outside the document** (``env``, ``$ENV``, ``input``,
   ``inputs``, ``debug``, ``stderr``, ``input_filename``, ``input_line_number``, ``get_search_list``,
   ``get_prog_origin``, ``get_jq_origin``, ``modulemeta``, ``halt``, ``halt_error``). Because jq only
   accepts ``import``/``include`` before the first definition, the prelude also makes every module
   directive a syntax error, so no program loads a file or a JSON data module.
3. **Bounded work**: program length, results per evaluation, the size of the reply, a wall-clock limit and
   (for callers that want it) a bounded queue in front of a fixed number of workers.

The pool follows the running event loop: used from a new loop (tests), it starts fresh workers there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.logging import get_logger

WORKER_SCRIPT = Path(__file__).with_name("jq_worker.py")
WORKER_ENV = {"HOME": "/nonexistent"}
"""The worker's whole environment. HOME points nowhere so libjq's optional ``~/.jq`` import finds nothing."""
STARTUP_TIMEOUT_S = 30.0
MAX_PROGRAM_CHARS = 4096
MAX_RESULTS = 2
"""Callers need "exactly one"; stopping at two also bounds endless generators."""

PRELUDE = " ".join(
    (
        "def env: {};",
        'def input: error("input is not available here");',
        "def inputs: empty;",
        "def debug: .;",
        "def debug(message): .;",
        "def stderr: .;",
        "def input_filename: null;",
        "def input_line_number: 0;",
        "def get_search_list: [];",
        "def get_prog_origin: null;",
        "def get_jq_origin: null;",
        'def modulemeta: error("modules are not available here");',
        'def halt: error("halt is not available here");',
        'def halt_error: error("halt_error is not available here");',
        'def halt_error(code): error("halt_error is not available here");',
        "{} as $ENV |",
    )
)
"""Put before the program, on a line of its own (error messages have their line numbers corrected)."""
_LINE = re.compile(r"\bline (\d+)")


class JqError(ValueError):
    """The program does not compile, fails, does not finish in time or yields too much (message for users)."""


class JqTimeout(JqError):
    """The program ran past the time limit (its worker was killed)."""


class JqBusy(JqError):
    """Every worker is busy and the queue in front of them is full: try again later."""


def sandboxed_source(program: str) -> str:
    """The text the worker compiles: the prelude, then ``program`` from line 2."""
    return f"{PRELUDE}\n{program}"


def user_message(message: str) -> str:
    """A jq error message with line numbers as the user wrote them (the prelude is line 1)."""
    text = _LINE.sub(lambda m: f"line {max(1, int(m.group(1)) - 1)}", message.strip())
    return text if text.startswith("jq:") else f"jq: {text}"


def check_length(program: str, max_chars: int = MAX_PROGRAM_CHARS) -> None:
    if len(program) > max_chars:
        raise JqError(f"jq: program longer than {max_chars} characters")
    if "\x00" in program:
        raise JqError("jq: program contains a NUL character")


def check_syntax(program: str, max_chars: int = 64 * 1024) -> None:
    """Compile — never run — ``program`` behind the prelude, in this process: for configured programs (the
    operator's text) at load time. Module directives fail to parse here too, so nothing is loaded."""
    import jq

    check_length(program, max_chars)
    try:
        jq.compile(sandboxed_source(program))
    except ValueError as error:
        raise JqError(user_message(str(error))) from None


@dataclass(eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    idle_timer: asyncio.TimerHandle | None = None

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


@dataclass
class JqSandbox:
    """A pool of sandboxed jq workers.

    ``workers`` programs run at once; up to ``queue`` more wait for a worker (beyond that :class:`JqBusy`,
    at once). Each evaluation may take ``timeout_s`` of wall-clock time once it reached a worker. Workers
    start on first use; with ``idle_s`` set, a worker idle that long exits (for services that evaluate
    rarely).
    """

    workers: int = 1
    queue: int = 8
    timeout_s: float = 2.0
    memory_mb: int = 256
    max_result_bytes: int = 1 << 20
    max_program_chars: int = MAX_PROGRAM_CHARS
    idle_s: float | None = None
    _idle: list[_Worker] = field(default_factory=list, init=False, repr=False)
    _running: set[_Worker] = field(default_factory=set, init=False, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _waiting: int = field(default=0, init=False, repr=False)
    _reaping: set[asyncio.Task[int]] = field(default_factory=set, init=False, repr=False)
    log: Any = field(default_factory=lambda: get_logger("jq-sandbox"), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("a jq sandbox needs at least one worker")

    # --- public -----------------------------------------------------------------------------------------

    async def evaluate(self, program: str, document: Any, *, max_results: int = MAX_RESULTS) -> list[Any]:
        """Up to ``max_results`` results of ``program`` on ``document`` (a Python value, or JSON text as
        ``str``/``bytes``)."""
        check_length(program, self.max_program_chars)
        if isinstance(document, bytes):
            text = document
        elif isinstance(document, str):
            text = document.encode()
        else:
            text = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        slots = self._bind_loop()
        if slots.locked() and self._waiting >= self.queue:
            raise JqBusy("jq: too many programs are running; try again later")
        self._waiting += 1
        try:
            await slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await self._run(sandboxed_source(program).encode(), text, max_results)
        finally:
            slots.release()

    async def one(self, program: str, document: Any) -> Any:
        """The single result of ``program``; :class:`JqError` for none or more than one."""
        results = await self.evaluate(program, document, max_results=2)
        if not results:
            raise JqError("jq: empty result")
        if len(results) > 1:
            raise JqError("jq: too many results")
        return results[0]

    async def start(self) -> None:
        """Start one worker now (so the first request does not wait for it)."""
        self._bind_loop()
        if not self._idle and not self._running:
            self._park(await self._spawn())

    @property
    def busy(self) -> int:
        """Programs running or waiting right now."""
        return len(self._running) + self._waiting

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for diagnostics)."""
        return [w.process.pid for w in [*self._idle, *self._running] if w.alive]

    async def aclose(self) -> None:
        """Stop every worker and wait until they are gone."""
        for worker in [*self._idle, *self._running]:
            self._discard(worker)
        self._idle.clear()
        self._running.clear()
        if self._reaping and self._loop is asyncio.get_running_loop():
            await asyncio.gather(*self._reaping, return_exceptions=True)

    # --- internals --------------------------------------------------------------------------------------

    def _bind_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._slots is None:
            for worker in [*self._idle, *self._running]:
                worker.kill()  # their loop is gone: nothing left to wait with
            self._idle, self._running, self._waiting, self._reaping = [], set(), 0, set()
            self._loop, self._slots = loop, asyncio.Semaphore(self.workers)
        return self._slots

    async def _spawn(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            str(WORKER_SCRIPT),
            str(self.memory_mb << 20),
            str(self.max_result_bytes),
            str(math.ceil(self.timeout_s) + 1),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=WORKER_ENV,
            cwd="/",
            limit=self.max_result_bytes + 1024,
        )
        assert process.stdout is not None and process.stderr is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if line != b"ready\n":
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            problem = (await process.stderr.read(2000)).decode(errors="replace").strip()
            await process.wait()
            self.log.error("jq worker did not start", problem=problem[-500:] or "no output")
            raise JqError("jq: evaluator did not start")
        return _Worker(process)

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.idle_timer is not None:
                worker.idle_timer.cancel()
                worker.idle_timer = None
            if worker.alive:
                return worker
        return await self._spawn()

    def _park(self, worker: _Worker) -> None:
        if not worker.alive:
            return
        self._idle.append(worker)
        if self.idle_s is not None and self._loop is not None:
            worker.idle_timer = self._loop.call_later(self.idle_s, self._retire, worker)

    def _retire(self, worker: _Worker) -> None:
        if worker in self._idle:
            self._idle.remove(worker)
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        """Kill ``worker`` and reap it in the background (its pipes close once it is gone)."""
        worker.kill()
        if self._loop is None or self._loop.is_closed():
            return
        task = self._loop.create_task(worker.process.wait())
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def _run(self, source: bytes, document: bytes, max_results: int) -> list[Any]:
        worker = await self._take()
        self._running.add(worker)
        process = worker.process
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin, process.stdout

        async def exchange() -> dict[str, Any]:
            stdin.write(b"%d %d %d\n" % (len(source), len(document), max_results) + source + document)
            await stdin.drain()
            header = await stdout.readline()
            if not header:
                raise EOFError
            reply: dict[str, Any] = json.loads(await stdout.readexactly(int(header)))
            return reply

        try:
            reply = await asyncio.wait_for(exchange(), self.timeout_s)
        except TimeoutError:
            self._discard(worker)
            raise JqTimeout(f"jq: evaluation took longer than {self.timeout_s:g} s") from None
        except (OSError, EOFError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self._discard(worker)
            raise JqError("jq: evaluation failed (out of memory or crashed)") from None
        except BaseException:
            self._discard(worker)  # cancelled mid-evaluation: the worker's state is unknown
            raise
        finally:
            self._running.discard(worker)
        self._park(worker)
        if "error" in reply:
            raise JqError(user_message(str(reply["error"])))
        results: list[Any] = reply["ok"]
        return results
