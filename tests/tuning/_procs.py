"""Helpers of the multi-process sweep tests: sweep processes forked by sweep_script.py, the
trials they wrote."""

import glob
import json
import os
import select
import signal
import subprocess
import sys
import time

SCRIPT = os.path.join(os.path.dirname(__file__), "sweep_script.py")


def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(k, None)
    env.update(extra)
    return env


def _trials(directory):
    out = {}
    for path in glob.glob(os.path.join(directory, "sweep", "trial_*", "trial.json")):
        with open(path) as f:
            t = json.load(f)
        out[t["trial_id"]] = t
    return out


def _runs(directory):
    with open(os.path.join(directory, "runs.log")) as f:
        return [line.split() for line in f.read().splitlines()]


class Sweeps:
    """A ``sweep_script.py DIRECTORY serve`` process: TensorFlow starts once and every sweep
    process is forked from it (a real process of its own, in its own process group).

    >>> sweeps = Sweeps(tmp_path)                      # doctest: +SKIP
    >>> pid = sweeps.start("plain", 3)                 # doctest: +SKIP
    >>> sweeps.wait()                                  # doctest: +SKIP
    ['exit 0']
    """

    def __init__(self, directory, timeout=400):
        self.timeout, self.pids, self._buf = timeout, [], b""
        self.log = os.path.join(directory, "serve.log")
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([sys.executable, SCRIPT, str(directory), "serve"],
                                         env=_env(), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err)

    def _line(self):
        end = time.time() + self.timeout
        while b"\n" not in self._buf:
            left = end - time.time()
            assert left > 0 and select.select([self.proc.stdout], [], [], left)[0], (
                f"no answer from the sweep server in {self.timeout} s: {self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            assert chunk, f"the sweep server died: {self.stderr()}"
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def _send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stderr(self):
        """The last lines the server and its sweep processes wrote to stderr."""
        with open(self.log) as f:
            return f.read()[-3000:]

    def start(self, mode, max_trials, **env):
        """Fork one sweep process (``env``: its extra environment variables); its pid."""
        self._send(" ".join([mode, str(max_trials), *(f"{k}={v}" for k, v in env.items())]))
        word, pid = self._line().split()
        assert word == "started", self.stderr()
        self.pids.append(int(pid))
        return int(pid)

    def wait(self):
        """Wait for every started process; how each ended ("exit 0", "signal 9"), in order."""
        self._send("wait")
        ended = [self._line().split(" ", 2)[2] for _ in self.pids]
        self.pids = []
        return ended

    def close(self):
        """Stop the server (and, if a test failed midway, the sweep processes it forked)."""
        for pid in self.pids:  # each leads its own process group
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
