"""Peak memory of one training step or one sampler call, each case in a fresh forked process.

What is measured: the growth of the process's peak resident set (Linux VmHWM) during the
measured calls, over the resident set just before them. The case (network, Adam state, data)
is built and run once first, so parameters, optimiser state and one-off allocations are in
the baseline and the number is the *transient* memory of the work itself: activations, the
autograd graph, gradients, Jacobians, temporaries. The peak is reset with
``/proc/self/clear_refs`` (write "5"); glibc's malloc is told to serve every block of 64 KiB
or more with mmap (``mallopt``), so freed tensors leave the resident set at once and the
baseline is not inflated by a cache. Resolution: one page (4 KiB); blocks below 64 KiB
that stay in malloc's heap can make small cases read a little low.

A zygote process imports torch, scorelab and torchebm once and forks one child per case
(fork before any torch op runs, so no OpenMP pool is copied); this keeps a fresh process per
case without paying torch's import each time.

Run: ``python benchmarks/memory.py CASES_JSON`` (used by run.py); prints one JSON line per case.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP

import ctypes  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _status_kib(field: str) -> int:
    text = open("/proc/self/status").read()
    return int(re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.M).group(1))


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _build(case: dict):
    """The case's zero-argument call (one training step or one sampler call)."""
    import cases
    build = cases.objective_step if case["kind"] == "objective" else cases.sampler_run
    return build(case["name"], case["family"], case["d"], case["impl"], cases.Setup(**case["setup"]))


def _measure(case: dict, threads: int) -> dict:
    import time

    import torch
    t0 = time.perf_counter()
    torch.set_num_threads(threads)
    fn = _build(case)
    fn()  # one-off allocations (Adam state, lazy inits) go into the baseline
    gc.collect()
    exact = _reset_peak()
    base = _status_kib("VmRSS")
    for _ in range(case.get("calls", 1)):
        fn()
    peak = _status_kib("VmHWM")
    return {**case, "base_rss_kib": base, "peak_rss_kib": peak,
            "growth_kib": peak - base, "peak_reset": exact, "elapsed_s": time.perf_counter() - t0}


def measure_cuda(case: dict) -> dict:
    """The CUDA version of :func:`_measure`, run in the calling process: the caching
    allocator's peak (``torch.cuda.max_memory_allocated``) during the measured calls, over what
    was allocated just before them. Exact to the byte and per process, so no fork is needed
    (and none is wanted: each child would initialise CUDA again)."""
    import time

    import torch
    t0 = time.perf_counter()
    try:
        fn = _build(case)
        fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(case.get("calls", 1)):
            fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    except Exception as exc:  # report, like a failed child
        return {**case, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        fn = None
        gc.collect()
        torch.cuda.empty_cache()
    return {**case, "base_allocated_kib": base // 1024, "peak_allocated_kib": peak // 1024,
            "growth_kib": (peak - base) // 1024, "elapsed_s": time.perf_counter() - t0}


def serve(case_list: list, threads: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 64 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
    except OSError:
        pass
    import torch  # imported once, before any fork

    import cases  # noqa: F401
    # The first optimiser pulls in ~3 s of lazy imports: pay them here, not in every child
    # (constructing it runs no parallel op, so the children still start without an OpenMP pool).
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    import peers
    if peers.available():
        import torchebm.losses  # noqa: F401
        import torchebm.samplers  # noqa: F401
    gc.collect()
    gc.freeze()  # the children's gc.collect() then skips the import-time objects
    for case in case_list:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                out = _measure(case, threads)
            except Exception as exc:  # report, never hang the parent
                out = {**case, "error": f"{type(exc).__name__}: {exc}"}
            os.write(w, json.dumps(out).encode())
            os.close(w)
            os._exit(0)
        os.close(w)
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        os.close(r)
        os.waitpid(pid, 0)
        print(b"".join(chunks).decode(), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    spec = json.loads(open(sys.argv[1]).read())
    serve(spec["cases"], spec["threads"])
