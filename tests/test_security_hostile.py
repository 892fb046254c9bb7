"""Model output is untrusted: hostile responses never execute anything, never escape as exceptions,
never exceed the time budget, and do not grow the main process; the pool survives a worker killed from outside.
"""
import os
import resource
import signal
import sys
import threading
import time

import pytest

import rewards
from rewards import verify, verify_batch, verify_batch_detailed, verify_detailed
from rewards.parse import ParseError, parse_answer
from rewards.pool import _audit_hook, get_pool

BUDGET = 2.0
SLACK = 2.0  # process start-up (first call) and scheduling on a shared 2-core machine


def hostile_payloads(sentinel: str) -> list[str]:
    p = sentinel
    deep = 20000
    return [
        # Python injection through every entry point a naive checker would use (sympify / parse_expr / eval)
        f"__import__('os').system('touch {p}')",
        f"__import__(\"subprocess\").Popen([\"touch\", \"{p}\"])",
        f"open('{p}', 'w').write('x')",
        f"exec(\"open('{p}','w')\")",
        f"eval(\"__import__('os').system('touch {p}')\")",
        f"compile('open(\"{p}\",\"w\")', 'x', 'exec')",
        "().__class__.__bases__[0].__subclasses__()",
        "''.__class__.__mro__[1].__subclasses__()[40]",
        f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', '{p}'])",
        "x.__class__.__init__.__globals__['__builtins__']",
        "getattr(__builtins__, 'open')",
        f"(lambda: __import__('os').system('touch {p}'))()",
        f"lambda x: open('{p}', 'w')",
        f"Symbol('x').__class__.__call__(open('{p}','w'))",
        f"\\text{{__import__('os').system('touch {p}')}}",
        f"\\mathrm{{exec}}(\"open('{p}','w')\")",
        f"\\operatorname{{eval}}(open('{p}','w'))",
        f"\\input{{{p}}}",
        f"\\immediate\\write18{{touch {p}}}",
        f"$(touch {p})",
        f"`touch {p}`",
        f"cos\nsystem\n(S'touch {p}'\ntR.",  # a pickle program as text
        f"＿＿import＿＿('os').system('touch {p}')",  # full-width lookalikes
        # resource exhaustion
        "9**9**9**9",
        "9^{9^{9^{9}}}",
        "10^{10^{10}}",
        "2^{-10^{10}}",
        "(10^{10})!",
        "1000000!",
        "((10!)!)!",
        "\\binom{10^{9}}{5 \\cdot 10^{8}}",
        "(x+1)^{99999}-(x-1)^{99999}",
        "x^{x^{x^{x^{x^{x^{x}}}}}}",
        "\\sin(10^{10^{10}})",
        "1" * 5000,
        "0." + "0" * 3000 + "1",
        "(" * deep + "1" + ")" * deep,
        "{" * deep + "1" + "}" * deep,
        "\\frac{" * 3000 + "1" + "}{2}" * 3000,
        "\\sqrt{" * 5000 + "2" + "}" * 5000,
        "+".join(["1"] * 100000),
        "+".join(f"x^{{{i}}}" for i in range(300)),
        "\\begin{pmatrix}" + "\\\\".join(["&".join(["1"] * 100)] * 100) + "\\end{pmatrix}",
        # control characters and invalid UTF-8 surrogates
        "\x00\x01\x02\x1b[2J\x7f 5",
        "\ud800\udfff",
        "5\udcff",
        "\u202e5\u202c",
    ]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@pytest.fixture(scope="module")
def warm_pool():
    rewards.warmup()
    return get_pool()


def test_hostile_responses_execute_nothing_and_stay_within_budget(tmp_path, warm_pool):
    sentinel = tmp_path / "pwned"
    payloads = hostile_payloads(str(sentinel))
    assert len(payloads) >= 30          # injection, resource exhaustion, nesting depth and encoding attacks
    rss_before = _rss_mb()
    worst = 0.0
    reasons = []
    for payload in payloads:
        for response in (f"\\boxed{{{payload}}}", f"The answer is {payload}", payload):
            t0 = time.monotonic()
            v = verify_detailed("5", response, timeout=BUDGET)
            elapsed = time.monotonic() - t0
            worst = max(worst, elapsed)
            assert isinstance(v.correct, bool)
            assert elapsed < BUDGET + SLACK, f"{payload[:60]!r} took {elapsed:.1f}s"
            assert not v.reason.startswith("blocked"), f"{payload[:60]!r} tried a blocked operation: {v.reason}"
            reasons.append(v.reason.split(":")[0])
    # the plain verify API on every payload: a bool, never an exception
    for payload in payloads:
        assert verify("5", payload, timeout=BUDGET) in (True, False)
    # and a batch of all of them at once
    out = verify_batch(["5"] * len(payloads), [f"\\boxed{{{p}}}" for p in payloads], timeout=BUDGET)
    assert len(out) == len(payloads) and all(isinstance(x, bool) for x in out)
    # only the payloads that really end in the number 5 (control characters around it) may count as correct
    assert all(not ok or p.rstrip("\u202c").endswith("5") for ok, p in zip(out, payloads))
    assert not sentinel.exists(), "a hostile response created a file"
    assert not list(tmp_path.iterdir())
    # the main process only extracts strings: its peak memory does not grow with the payloads
    assert _rss_mb() - rss_before < 300
    from collections import Counter
    print(f"\nhostile: {len(reasons)} checks, worst {worst:.2f}s, reasons {dict(Counter(reasons))}")


def test_hostile_answers_never_reach_eval_or_processes_in_the_parser(tmp_path):
    """Parse every payload in this process under an audit hook: no compile/exec/eval, process or write event."""
    sentinel = tmp_path / "pwned"
    payloads = hostile_payloads(str(sentinel))
    for p in payloads:  # warm-up: sympy imports its own modules lazily (those are 'exec' events too)
        try:
            parse_answer(p)
        except (ParseError, RecursionError):
            pass
    events = []
    active = threading.local()
    watch = ("compile", "exec", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.fork",
             "socket.connect", "ctypes.dlopen", "builtins.input")

    def hook(event, args):
        if getattr(active, "on", False):
            if event.startswith(watch) or (event == "open" and len(args) > 1 and isinstance(args[1], str)
                                           and any(c in args[1] for c in "wax+")):
                events.append((event, str(args)[:100]))

    sys.addaudithook(hook)  # cannot be removed; it records only while active.on is set in this thread
    active.on = True
    try:
        for p in payloads:
            try:
                parse_answer(p)
            except (ParseError, RecursionError):
                pass
    finally:
        active.on = False
    assert not events, events
    assert not sentinel.exists()


def test_worker_audit_hook_refuses_processes_and_writes(tmp_path):
    with pytest.raises(PermissionError):
        _audit_hook("open", (str(tmp_path / "f"), "w", 0))
    with pytest.raises(PermissionError):
        _audit_hook("open", (str(tmp_path / "f"), None, os.O_WRONLY | os.O_CREAT))
    for event in ("os.system", "subprocess.Popen", "os.posix_spawn", "os.fork", "socket.connect", "os.exec"):
        with pytest.raises(PermissionError):
            _audit_hook(event, ())
    _audit_hook("open", (str(tmp_path / "f"), "r", 0))  # reading is allowed (sympy imports its modules)


def test_no_subprocess_under_the_workers(warm_pool):
    """Workers never start children: check the process tree while hostile checks run."""
    import psutil
    stop = threading.Event()
    seen = []

    def watch():
        while not stop.is_set():
            for pid in warm_pool.worker_pids():
                try:
                    seen.extend(c.pid for c in psutil.Process(pid).children(recursive=True))
                except psutil.Error:
                    pass
            time.sleep(0.005)

    t = threading.Thread(target=watch)
    t.start()
    try:
        verify_batch(["1"] * 20, [f"\\boxed{{__import__('os').system('sleep 5') + {i}}}" for i in range(20)],
                     timeout=BUDGET)
        verify_batch(["1"] * 4, ["\\boxed{(x+1)^{99999}-(x-1)^{99999}}"] * 4, timeout=0.5)
    finally:
        stop.set()
        t.join()
    assert not seen


def test_verify_batch_survives_a_worker_killed_from_outside(warm_pool):
    n = 3000  # enough distinct symbolic checks that the batch is still running when the kill lands, even when idle
    golds = ["x^2-1"] * n
    responses = [f"\\boxed{{(x-1)(x+1) + {i} - {i}}}" for i in range(n)]  # distinct: no de-duplication
    killed = []

    def killer():
        time.sleep(0.1)
        pid = warm_pool.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    started_before = warm_pool.stats["workers_started"]
    t = threading.Thread(target=killer)
    t.start()
    verdicts = verify_batch_detailed(golds, responses, timeout=5.0)
    t.join()
    assert killed
    assert len(verdicts) == n
    # the task the killed worker held is retried once on a fresh worker: no verdict is lost to an outside kill
    assert all(v.correct for v in verdicts), [v for v in verdicts if not v.correct][:3]
    # the pool replaced the worker and keeps working
    assert verify_batch(["2", "3"], ["\\boxed{2}", "\\boxed{\\sqrt{9}}"]) == [True, True]
    assert killed[0] not in warm_pool.worker_pids()
    assert warm_pool.stats["workers_started"] > started_before  # the killed worker was replaced


def test_timeout_is_a_counted_reason_not_an_exception(warm_pool):
    rewards.reset_reason_counts()
    t0 = time.monotonic()
    # under rewards.cost's size rule (496 expanded terms) but 0.3-2 s of sympy on the 2-core machine: it runs into a
    # 0.05 s limit. Symbols no other test expands: sympy caches an expansion inside a worker, and a cached one is fast.
    v = verify_detailed("0", "\\boxed{(f+y_1+z_1)^{30}+1}", timeout=0.05)
    assert time.monotonic() - t0 < 0.05 + SLACK
    assert v.correct is False and v.reason == "timeout"
    assert rewards.reason_counts().get("timeout") == 1
    # the next check runs on a fresh worker
    assert verify("0", "\\boxed{0}") is True


def test_verify_from_many_threads(warm_pool):
    out = {}

    def run(i):
        out[i] = verify(str(i), f"\\boxed{{{i} + x - x}}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: True for i in range(8)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/limits")
def test_workers_run_under_address_space_and_cpu_limits(warm_pool):
    verify("1", "\\boxed{x - x + 1}")  # the worker has armed its CPU limit for a task
    pids = warm_pool.worker_pids()
    assert pids
    for pid in pids:
        limits = open(f"/proc/{pid}/limits").read().splitlines()
        address = next(line for line in limits if line.startswith("Max address space"))
        assert address.split()[3] == str(warm_pool.memory_mb * 1024 * 1024), address
        cpu = next(line for line in limits if line.startswith("Max cpu time"))
        assert cpu.split()[3] != "unlimited", cpu


def test_rewards_source_never_calls_an_evaluating_entry_point():
    """A static guard for the parsing rule: no call to eval/exec/compile/sympify/parse_expr/parse_latex/lambdify
    (or pickle loads) anywhere in the rewards package."""
    import ast
    from pathlib import Path
    banned = {"eval", "exec", "compile", "sympify", "parse_expr", "parse_latex", "lambdify", "S", "loads",
              "__import__", "simplify_logic", "latex2sympy"}
    root = Path(rewards.__file__).parent
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
                owner = getattr(fn.value, "id", "") if isinstance(fn, ast.Attribute) else ""
                if name in banned and owner not in ("re", "json"):  # re.compile / json.loads are not evaluation
                    found.append(f"{path.name}:{node.lineno} {name}")
    assert not found, found
