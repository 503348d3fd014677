"""What every benchmark script shares: the machine description, the command
line, result files, a memory sampler and a timer."""
from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> dict:
    """Load averages (1, 5, 15 min) and the `uptime` line: the machine is shared,
    so every result says how busy it was."""
    try:
        la = os.getloadavg()
    except OSError:
        la = (float("nan"),) * 3
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        up = ""
    return {"loadavg_1_5_15": [round(x, 2) for x in la], "uptime": up}


def machine() -> dict:
    import numba
    import numpy as np
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        rev, dirty = "unknown", False
    return {
        "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(mem, 1), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "git_revision": rev + ("+uncommitted" if dirty else ""),
        "numba_threading": os.environ.get("NUMBA_NUM_THREADS", "default"),
    }


def command() -> str:
    """The command that produced this run, as typed from the repository root."""
    exe = sys.executable
    if Path(os.path.abspath(exe)).is_relative_to(ROOT):
        exe = os.path.relpath(exe, ROOT)
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return " ".join([exe, shlex.quote(script)] + [shlex.quote(a) for a in sys.argv[1:]])


def write_result(name: str, payload: dict, results_dir: str | os.PathLike | None = None,
                 cmd: str | None = None) -> Path:
    """benchmarks/results/<name>.json with the machine, the load and the command."""
    d = Path(results_dir) if results_dir else RESULTS
    d.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "command": cmd or command(), "machine": machine(), "load_at_end": load(),
           "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    doc.update(payload)
    p = d / f"{name}.json"
    p.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")
    return p


def _jsonable(x):
    try:
        import numpy as np
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:
        pass
    return str(x)


def best_of(fn, repeats: int = 3, min_seconds: float = 0.0):
    """Smallest wall time of fn() over `repeats` runs (and at least min_seconds in all)."""
    ts = []
    t_all = time.perf_counter()
    while len(ts) < repeats or time.perf_counter() - t_all < min_seconds:
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), ts


class TreeMemory:
    """Peak resident memory of a process (default: this one) and all its
    descendants (summed), sampled every `interval` seconds in a thread (psutil),
    plus, for this process, the kernel's own peaks (getrusage) of it and of its
    waited-for children."""

    def __init__(self, interval: float = 0.05, pid: int | None = None):
        self.interval = interval
        self.pid = pid
        self.peak_total = 0
        self.peak_self = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        import psutil
        try:
            me = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total = 0
            try:
                rss = me.memory_info().rss
                total = rss
                self.peak_self = max(self.peak_self, rss)
                for c in me.children(recursive=True):
                    try:
                        total += c.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak_total = max(self.peak_total, total)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        try:
            import psutil  # noqa: F401
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        except ImportError:
            self._thread = None
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> dict:
        import resource
        if self.pid is not None:
            return {"peak_rss_tree_mib": round(self.peak_total / 2**20, 1),
                    "peak_rss_root_mib": round(self.peak_self / 2**20, 1), "samples": self.samples}
        r_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
        r_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {
            "peak_rss_tree_mib": round(self.peak_total / 2**20, 1) if self._thread else None,
            "peak_rss_parent_sampled_mib": round(self.peak_self / 2**20, 1) if self._thread else None,
            "maxrss_parent_mib": round(r_self, 1),
            "maxrss_largest_finished_child_mib": round(r_children, 1),
            "samples": self.samples,
        }


SCENARIO = ROOT / "scenarios" / "seed-design.toml"
SEED = 20200331


def study(pool_policy="condition", pool_size=10_000, n_treated=67, replicates=1000, **design):
    """The seed-design scenario (scenarios/seed-design.toml) with design changes."""
    import tomllib

    from simkit.runner.grid import study_from_dict
    text = SCENARIO.read_text()
    data = tomllib.loads(text)
    data["design"].update(pool_policy=pool_policy, pool_size=pool_size, n_treated=n_treated, **design)
    data["replicates"] = replicates
    return study_from_dict(data, text=text, path=str(SCENARIO))


def job(st, replicates, chunk):
    """montecarlo.Job of a study (no truth: the counterfactual reference
    computation is not part of what is timed)."""
    from simkit.runner.grid import build_job
    return build_job(st, replicates=replicates, chunk_size=chunk, with_truth=False)


def print_header(title: str):
    lo = load()
    m = machine()
    print(f"== {title}")
    print(f"$ {command()}")
    print(f"{m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, python {m['python']}, "
          f"numpy {m['numpy']}, numba {m['numba']}, git {m['git_revision']}")
    print(f"load average {lo['loadavg_1_5_15']} (the machine is shared: figures vary with it)")
