"""A pool of checker worker processes with hard limits, safe to use from any thread.

Why processes: sympy's simplification has no time bound and can use unbounded memory, and ``signal.alarm`` works
only in the main thread. Each check runs in a worker process that the parent kills when its deadline passes.

* Start method: ``forkserver`` on Linux (``spawn`` elsewhere). Never ``fork``: forking a process that holds torch or
  tokenizer threads can deadlock. The fork server preloads ``rewards.equivalence`` (sympy), so a replacement worker
  starts in a few milliseconds; the first start of the fork server costs about one sympy import (measured in
  docs/rewards.md).
* Limits inside each worker: address space (``RLIMIT_AS``, default 2 GiB, ``RLVR_ZOO_CHECKER_MEMORY_MB``), CPU time
  (``RLIMIT_CPU`` re-armed before each task to the task's budget plus 2 s), messages of at most 64 KiB both ways
  encoded as JSON (never pickle), no bytecode writing, and an audit hook that refuses process creation, sockets,
  ``ctypes`` and opening files for writing (defence in depth: the parser never evaluates text anyway).
* The parent enforces the wall-clock deadline of every task, kills a worker that overruns (SIGKILL) and replaces it;
  a worker that dies (killed from outside, out of memory, CPU limit) is replaced too. The affected check returns
  False with the reason ``timeout`` or ``worker_died``; nothing raises into the caller.
* Throughput: tasks go to a worker in chunks (up to 16 tasks, 256 KiB) and the worker answers each task as soon as
  it is done, so a worker never waits for the parent between tasks; each task still gets its own full deadline.
* Thread safety: a call checks workers out of the idle list under a lock and returns them afterwards, so concurrent
  calls from several threads each use their own workers (extra ones are started on demand and stopped when returned
  beyond the pool size).
"""
from __future__ import annotations

import atexit
import json
import math
import multiprocessing as mp
import os
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import wait as mp_wait

from rewards.cost import BATCH_TIMEOUT_REASON, check_timeout

__all__ = ["CheckerPool", "get_pool", "configure_pool", "shutdown_pool", "pool_stats"]

MAX_MESSAGE = 64 * 1024          # a worker's answer (worker -> parent)
MAX_REQUEST = 8 * 1024 * 1024    # a chunk of tasks (parent -> worker)
CHUNK_BYTES = 256 * 1024         # tasks are sent in chunks up to this size ...
MAX_CHUNK = 16                   # ... and this many tasks
MAX_TASKS_PER_WORKER = 20000     # a worker is recycled after this many checks (bounds sympy's caches)
DEFAULT_MEMORY_MB = int(os.environ.get("RLVR_ZOO_CHECKER_MEMORY_MB", "2048"))


def _default_workers() -> int:
    env = os.environ.get("RLVR_ZOO_CHECKER_WORKERS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n))


# ------------------------------------------------------------------------------------------------------------------
# worker side

_BLOCKED_PREFIXES = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                     "subprocess.", "socket.", "ctypes.", "os.remove", "os.unlink", "os.rename", "os.rmdir",
                     "os.mkdir", "os.chmod", "os.kill", "shutil.", "pty.", "webbrowser.", "urllib.", "http.",
                     "ftplib.", "smtplib.", "os.truncate", "os.symlink", "os.link")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit_hook(event: str, args) -> None:
    if event == "open":
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing:
            raise PermissionError(f"checker worker may not open files for writing ({args[0]!r})")
        return
    if event.startswith(_BLOCKED_PREFIXES):
        raise PermissionError(f"checker worker may not perform {event}")


def _set_limits(memory_mb: int) -> None:
    try:
        import resource
        if memory_mb > 0:
            limit = memory_mb * 1024 * 1024
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-POSIX
        pass


def _arm_cpu(budget_s: float) -> None:
    try:
        import resource
        used = resource.getrusage(resource.RUSAGE_SELF)
        used_s = used.ru_utime + used.ru_stime
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        new = int(used_s + budget_s) + 2
        if hard != resource.RLIM_INFINITY:
            new = min(new, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (new, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover
        pass


def _run_one(run_task, task: dict, timeout: float) -> dict:  # pragma: no cover - runs in the child process
    _arm_cpu(timeout)
    try:
        out = run_task(task)
    except MemoryError:
        out = {"correct": False, "reason": "memory_limit"}
    except RecursionError:
        out = {"correct": False, "reason": "too_deep"}
    except PermissionError as e:
        out = {"correct": False, "reason": f"blocked: {e}"[:300]}
    except Exception as e:  # noqa: BLE001 - every failure becomes a counted reason, never a crash
        out = {"correct": False, "reason": f"error: {type(e).__name__}: {e}"[:300]}
    out["id"] = task.get("id")
    return out


def _worker_main(conn, memory_mb: int) -> None:  # pragma: no cover - runs in the child process
    """Receive a JSON list of tasks, answer each with one JSON message as soon as it is done."""
    sys.dont_write_bytecode = True
    sys.setrecursionlimit(20000)
    from rewards.worker_task import run_task  # imports sympy (already loaded in the fork server)
    _set_limits(memory_mb)
    _arm_cpu(10.0)  # a CPU limit from the start; re-armed before each task to that task's budget
    sys.addaudithook(_audit_hook)
    while True:
        try:
            raw = conn.recv_bytes(MAX_REQUEST)
        except (EOFError, OSError):
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        if msg.get("op") == "stop":
            return
        timeout = float(msg.get("timeout", 5.0))
        for task in msg.get("tasks", []):
            out = _run_one(run_task, task, timeout)
            data = json.dumps(out).encode()
            if len(data) > MAX_MESSAGE:
                data = json.dumps({"id": task.get("id"), "correct": False, "reason": "output_too_large"}).encode()
            try:
                conn.send_bytes(data)
            except (BrokenPipeError, OSError):
                return


# ------------------------------------------------------------------------------------------------------------------
# parent side

def _context():
    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        try:
            # add to (never replace) what the program already asked the fork server to preload
            from multiprocessing import forkserver
            current = list(getattr(forkserver._forkserver, "_preload_modules", []) or [])
            if "rewards.worker_task" not in current:
                ctx.set_forkserver_preload(current + ["rewards.worker_task"])
        except Exception:  # noqa: BLE001 - preload is only an optimisation
            pass
        return ctx
    return mp.get_context("spawn")


if sys.platform.startswith("linux"):
    import io as _io
    from multiprocessing import context as _mp_context, forkserver as _forkserver, popen_forkserver as _pf
    from multiprocessing import reduction as _reduction, spawn as _spawn, util as _util

    class _NoMainPopen(_pf.Popen):
        """Forkserver Popen whose children do not re-import the caller's ``__main__`` script.

        multiprocessing's forkserver and spawn children normally run the main script again (as ``__mp_main__``),
        which breaks scripts without an ``if __name__ == "__main__":`` guard and costs time. Checker workers only
        need ``rewards``, so the main-module entries are dropped from the preparation data; the rest is the
        standard library's ``popen_forkserver.Popen._launch``.
        """

        def _launch(self, process_obj):
            prep_data = _spawn.get_preparation_data(process_obj._name)
            prep_data.pop("init_main_from_path", None)
            prep_data.pop("init_main_from_name", None)
            buf = _io.BytesIO()
            _mp_context.set_spawning_popen(self)
            try:
                _reduction.dump(prep_data, buf)
                _reduction.dump(process_obj, buf)
            finally:
                _mp_context.set_spawning_popen(None)
            self.sentinel, w = _forkserver.connect_to_new_process(self._fds)
            _parent_w = os.dup(w)
            self.finalizer = _util.Finalize(self, _util.close_fds, (_parent_w, self.sentinel))
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = _forkserver.read_signed(self.sentinel)

    class _CheckerProcess(_mp_context.ForkServerProcess):
        @staticmethod
        def _Popen(process_obj):
            return _NoMainPopen(process_obj)
else:  # pragma: no cover
    _CheckerProcess = None


def _process_class(ctx):
    if ctx.get_start_method() == "forkserver" and _CheckerProcess is not None:
        return _CheckerProcess
    return ctx.Process


class _Worker:
    __slots__ = ("proc", "conn", "tasks_done")

    def __init__(self, ctx, proc_cls, memory_mb: int):
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = proc_cls(target=_worker_main, args=(child_conn, memory_mb), daemon=True,
                                name="rlvr-zoo-checker")
        self.proc.start()
        child_conn.close()
        self.conn = parent_conn
        self.tasks_done = 0

    def alive(self) -> bool:
        return self.proc.is_alive()

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(timeout=1.0)
        except Exception:  # noqa: BLE001
            pass
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        try:
            self.conn.send_bytes(b'{"op": "stop"}')
        except Exception:  # noqa: BLE001
            pass
        self.proc.join(timeout=0.5)
        if self.proc.is_alive():
            self.kill()
        else:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass


class CheckerPool:
    """Worker processes that run ``rewards.worker_task.run_task`` under a per-task deadline.

    size: workers kept between calls (default: CPUs available, at most 8; ``RLVR_ZOO_CHECKER_WORKERS``).
    memory_mb: address-space limit of each worker.
    """

    def __init__(self, size: int | None = None, memory_mb: int = DEFAULT_MEMORY_MB):
        self.size = size or _default_workers()
        self.memory_mb = memory_mb
        self._ctx = _context()
        self._proc_cls = _process_class(self._ctx)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        self.stats = {"tasks": 0, "timeouts": 0, "worker_died": 0, "workers_started": 0, "batch_deadline": 0}
        self._closed = False
        self.pid = os.getpid()  # a pool belongs to the process that made it (a forked child makes its own)

    # -- worker management
    def _new_worker(self) -> _Worker:
        w = _Worker(self._ctx, self._proc_cls, self.memory_mb)
        with self._lock:
            self._all.add(w)
            self.stats["workers_started"] += 1
        return w

    def _checkout(self, n: int) -> list[_Worker]:
        got = []
        with self._lock:
            while self._idle and len(got) < n:
                w = self._idle.pop()
                if w.alive():
                    got.append(w)
                else:
                    self._all.discard(w)
                    w.kill()
        while len(got) < n:
            got.append(self._new_worker())
        return got

    def _checkin(self, workers) -> None:
        extra = []
        with self._lock:
            for w in workers:
                if self._closed or len(self._idle) >= self.size or not w.alive() or \
                        w.tasks_done >= MAX_TASKS_PER_WORKER:
                    extra.append(w)
                    self._all.discard(w)
                else:
                    self._idle.append(w)
        for w in extra:
            w.stop()

    def _discard(self, w: _Worker) -> None:
        with self._lock:
            self._all.discard(w)
        w.kill()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.pid is not None]

    def warmup(self) -> None:
        """Start the fork server and the workers now (otherwise the first call does it)."""
        ws = self._checkout(self.size)
        self._checkin(ws)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ws = list(self._idle)
            self._idle.clear()
        for w in ws:
            w.stop()

    # -- running tasks
    def run(self, tasks: list[dict], timeout: float, total_deadline: float | None = None,
            progress=None) -> list[dict]:
        """Run every task (a JSON-able dict) and return one result dict per task, in order.

        Tasks go to the workers in chunks (fewer round trips); the worker answers each task as soon as it is done.
        Each task gets ``timeout`` seconds of wall time from the moment its worker starts it (the dispatch of its
        chunk or the answer to the task before it); ``total_deadline`` (a time.monotonic() value) additionally
        caps the whole call. A task that overruns gets ``{"correct": False, "reason": "timeout"}`` and its worker
        is killed and replaced; a worker that dies gives its current task ``worker_died``; tasks queued behind
        either are sent again to another worker. Tasks cut off by ``total_deadline`` (queued, or running when it
        passes) get the reason ``timeout: batch deadline`` instead. ``timeout`` must be finite, > 0 and at most
        ``rewards.cost.MAX_TIMEOUT_S`` (ValueError otherwise).
        """
        timeout = check_timeout(timeout)
        if total_deadline is not None and not math.isfinite(total_deadline):
            raise ValueError(f"total_deadline must be a finite time.monotonic() value, got {total_deadline!r}")
        if not tasks:
            return []
        batch = _BatchRun(self, tasks, timeout, total_deadline, progress)
        try:
            batch.loop()
        finally:
            batch.close()
        return [r if r is not None else {"correct": False, "reason": "timeout"} for r in batch.results]


class _BatchRun:
    """One call of ``CheckerPool.run``: the queue of task indices, the workers of this call (idle, busy with a chunk,
    alive) and the results, with the steps of its event loop: cut what the batch deadline leaves, send chunks to
    idle workers, wait on the busy ones, read their answers, and fail and replace a worker that overran or died."""

    def __init__(self, pool: CheckerPool, tasks: list[dict], timeout: float, total_deadline: float | None,
                 progress):
        self.pool = pool
        self.tasks = tasks
        self.timeout = timeout
        self.total_deadline = total_deadline
        self.progress = progress
        self.results: list[dict | None] = [None] * len(tasks)
        self.pending = deque(range(len(tasks)))
        self.encoded: dict[int, str] = {}
        self.busy: dict[_Worker, list] = {}   # worker -> [deque of task indices in its chunk, deadline of the head]
        self.retried: set[int] = set()
        workers = pool._checkout(min(len(tasks), pool.size))
        self.idle = list(workers)
        self.alive = list(workers)

    def loop(self) -> None:
        while self.pending or self.busy:
            self.cut_at_batch_deadline()
            self.dispatch()
            if self.busy:
                self.collect(self.wait())

    def close(self) -> None:
        """Anything still busy (an exception in this thread) is killed, since its state is unknown; the live
        workers go back to the pool."""
        for w in list(self.busy):
            self.drop(w)
        self.pool._checkin(self.alive)
        with self.pool._lock:
            self.pool.stats["tasks"] += len(self.tasks)

    # -- helpers
    def encode(self, idx: int) -> str:
        if idx not in self.encoded:
            t = dict(self.tasks[idx])
            t["id"] = idx
            self.encoded[idx] = json.dumps(t)
        return self.encoded[idx]

    def finish(self, idx: int, outcome: dict) -> None:
        self.results[idx] = outcome
        if self.progress is not None:
            self.progress(1)

    def head_deadline(self, now: float) -> float:
        d = now + self.timeout
        return min(d, self.total_deadline) if self.total_deadline is not None else d

    def past_batch_deadline(self) -> bool:
        return self.total_deadline is not None and time.monotonic() >= self.total_deadline

    def drop(self, w: _Worker) -> None:
        """Kill ``w`` and forget it."""
        if w in self.alive:
            self.alive.remove(w)
        self.pool._discard(w)

    def add_worker(self) -> None:
        """Start a fresh worker, idle and ready for a chunk."""
        nw = self.pool._new_worker()
        self.alive.append(nw)
        self.idle.append(nw)

    # -- the steps of the loop
    def cut_at_batch_deadline(self) -> None:
        if self.pending and self.past_batch_deadline():
            with self.pool._lock:
                self.pool.stats["batch_deadline"] += len(self.pending)
            while self.pending:
                self.finish(self.pending.popleft(), {"correct": False, "reason": BATCH_TIMEOUT_REASON})

    def dispatch(self) -> None:
        """Send a chunk of queued tasks to each idle worker."""
        while self.idle and self.pending:
            w = self.idle.pop()
            k = max(1, min(MAX_CHUNK, len(self.pending) // (2 * len(self.alive))))
            chunk, size = deque(), 0
            while self.pending and len(chunk) < k:
                text = self.encode(self.pending[0])
                if chunk and size + len(text) > CHUNK_BYTES:
                    break
                chunk.append(self.pending.popleft())
                size += len(text)
            body = '{"timeout": %r, "tasks": [%s]}' % (float(self.timeout), ",".join(self.encode(i) for i in chunk))
            try:
                w.conn.send_bytes(body.encode())
            except (OSError, ValueError):
                # the worker died while idle: nothing ran, so the chunk simply goes back to the queue
                self.pending.extendleft(reversed(chunk))
                self.drop(w)
                self.add_worker()
                continue
            self.busy[w] = [chunk, self.head_deadline(time.monotonic())]

    def wait(self) -> set:
        """The pipes and process sentinels of busy workers that are ready, waiting at most until the earliest
        deadline of a task at the head of a chunk."""
        wait_s = max(0.0, min(d for _, d in self.busy.values()) - time.monotonic())
        handles = []
        for w in self.busy:
            handles.append(w.conn)
            handles.append(w.proc.sentinel)
        return set(mp_wait(handles, timeout=wait_s))

    def collect(self, ready: set) -> None:
        """Read the answers of ready workers; fail a worker that died or whose head task overran its deadline."""
        for w in list(self.busy):
            if w.conn in ready:
                try:
                    done = self.read_answers(w)
                except (EOFError, OSError, ValueError):
                    self.fail_worker(w, "worker_died")
                    continue
                if done:
                    del self.busy[w]
                    self.idle.append(w)
                    continue
            if w.proc.sentinel in ready or not w.alive():
                self.fail_worker(w, "worker_died")
            elif time.monotonic() >= self.busy[w][1]:
                cut = self.past_batch_deadline()
                if cut:
                    with self.pool._lock:
                        self.pool.stats["batch_deadline"] += 1
                self.fail_worker(w, BATCH_TIMEOUT_REASON if cut else "timeout")

    def read_answers(self, w: _Worker) -> bool:
        """Every answer waiting on ``w``'s pipe, in the order of its chunk (ValueError when out of order); True when
        the chunk is done. Each answer restarts the deadline of the next task."""
        queue = self.busy[w][0]
        while w.conn.poll():
            out = json.loads(w.conn.recv_bytes(MAX_MESSAGE))
            if not queue or out.get("id") != queue[0]:
                raise ValueError("answer out of order")
            self.finish(queue.popleft(), {"correct": bool(out.get("correct")),
                                          "reason": str(out.get("reason", ""))[:300]})
            w.tasks_done += 1
            self.busy[w][1] = self.head_deadline(time.monotonic())
            if not queue:
                break
        return not queue

    def fail_worker(self, w: _Worker, reason: str) -> None:
        """The head task of w gets ``reason``; the rest of its chunk goes back to the queue. A worker that died
        (rather than overran) may have been killed from outside (the OOM killer, an operator) while idle or busy
        with the head task: the head task gets one more try on a fresh worker before it counts as
        ``worker_died``, so an input that kills a worker twice is failed, and nothing is retried forever."""
        queue, _ = self.busy.pop(w)
        if queue:
            head = queue.popleft()
            if reason == "worker_died" and head not in self.retried:
                self.retried.add(head)
                queue.appendleft(head)
            else:
                self.finish(head, {"correct": False, "reason": reason})
        self.pending.extendleft(reversed(queue))
        with self.pool._lock:
            self.pool.stats["timeouts" if reason.startswith("timeout") else "worker_died"] += 1
        self.drop(w)
        if self.pending and not self.past_batch_deadline():
            self.add_worker()


_POOL: CheckerPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> CheckerPool:
    """The process-wide checker pool (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._closed or _POOL.pid != os.getpid():
            _POOL = CheckerPool()
        return _POOL


def configure_pool(size: int | None = None, memory_mb: int | None = None) -> CheckerPool:
    """Replace the process-wide pool with one of ``size`` workers and ``memory_mb`` per worker (None: default)."""
    global _POOL
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"pool size must be a positive integer, got {size!r}")
    with _POOL_LOCK:
        old, _POOL = _POOL, CheckerPool(size=size, memory_mb=memory_mb or DEFAULT_MEMORY_MB)
        new = _POOL
    if old is not None:
        old.close()
    return new


def shutdown_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


def pool_stats() -> dict:
    return dict(_POOL.stats) if _POOL is not None else {}


def _after_fork_in_child() -> None:
    """A forked child cannot use its parent's workers or fork server (they are not its children): forget them."""
    global _POOL
    _POOL = None
    try:
        from multiprocessing import forkserver
        fs = forkserver._forkserver
        if fs._forkserver_pid is not None:
            if fs._forkserver_alive_fd is not None:
                os.close(fs._forkserver_alive_fd)
            fs._forkserver_pid = None
            fs._forkserver_address = None
            fs._forkserver_alive_fd = None
    except Exception:  # noqa: BLE001 - private multiprocessing state; a later start reports its own error
        pass


atexit.register(shutdown_pool)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
