"""python3 from the armhf sysroot: a signal.alarm handler that interrupts a
compute loop, and threading with a queue (issues: signals, threads)."""

from __future__ import annotations

import textwrap

SCRIPT = textwrap.dedent("""\
    import queue, signal, threading
    got = []
    def handler(signum, frame):
        got.append(signum)
        raise TimeoutError("alarm")
    signal.signal(signal.SIGALRM, handler)
    signal.alarm(1)
    n = 0
    try:
        while True:  # no syscalls: the signal must interrupt the loop
            n += 1
    except TimeoutError as e:
        print("caught", e, "signals", got)
    q = queue.Queue()
    def worker(i):
        q.put((i, sum(range(i * 1000))))
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = sorted(q.get() for _ in range(8))
    print("threads done", results[:3], len(results))
    """)

EXPECTED = ("caught alarm signals [14]\n"
            "threads done [(0, 0), (1, 499500), (2, 1999000)] 8\n")


def test_python_alarm_and_threads(sysroot, assert_same_as_qemu, tmp_path):
    script = tmp_path / "alarm_threads.py"
    script.write_text(SCRIPT)
    assert_same_as_qemu(["-L", sysroot, sysroot / "usr/bin/python3", "-I", "-B", script],
                        stdout=EXPECTED, timeout=300)
