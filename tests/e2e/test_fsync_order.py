"""A 201 is sent only once what it acknowledges is durable.

strace follows the server's file-system calls while clients push (new and
known repositories, monolithic, POST-then-PUT and chunked uploads, manifests
by digest, a new tag, a moved tag). Every change to the tree (a file
created or written, an entry made, renamed or removed in a directory)
makes that file or directory dirty; an fsync or fdatasync of it makes it
clean; a rename carries a file's (or a directory's contents') dirtiness
along. Whenever the server writes a 201 to a client, nothing in the tree
may be dirty except upload scratch (`_uploads/…`, which docs/layout.md says
is not fsynced) and h2o's body spool: otherwise a power cut right after
the 201 could lose what the client was told is stored.

Skipped without strace (Debian's strace package).
"""

import os
import re
import shutil
import signal
import subprocess
import time
import unittest
from pathlib import PurePosixPath

from cairn_server import CairnTestCase, sha256

SYSCALLS = ("mkdir,mkdirat,rename,renameat,renameat2,openat,write,pwrite64,writev,"
            "fsync,fdatasync,unlink,unlinkat,rmdir,ftruncate,fallocate")
LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)(<[^>]*>)?")
FD = re.compile(r"^(-?\d+)<([^>]*)>")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parent(path):
    return str(PurePosixPath(path).parent)


class Tracker:
    """Dirty files and directories of the tree, from strace lines."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.dirty = {}  # path -> the call that dirtied it
        self.acknowledged = 0
        self.problems = []

    def in_tree(self, path):
        return path == self.root or path.startswith(self.root + "/")

    def scratch(self, path):
        relative = path[len(self.root):]
        return ("/_uploads" in relative or relative.startswith("/.cairn-tmp")
                or relative.startswith("/.cairn-gc"))

    def mark(self, path, why):
        if self.in_tree(path):
            self.dirty[path] = why

    def mark_entry(self, path, why):
        """An entry made or removed: its directory changed (unless the entry
        is scratch, whose presence after a crash does not matter)."""
        if not self.scratch(path):
            self.mark(parent(path), why)

    def clean(self, path):
        self.dirty.pop(path, None)

    def moved(self, old, new, why):
        for path in list(self.dirty):
            if path == old or path.startswith(old + "/"):
                self.dirty[new + path[len(old):]] = self.dirty.pop(path)
        self.mark_entry(old, why)
        self.mark_entry(new, why)

    def removed(self, path, why):
        for p in list(self.dirty):
            if p == path or p.startswith(path + "/"):
                del self.dirty[p]
        self.mark_entry(path, why)

    def feed(self, line):
        m = LINE.match(line)
        if m is None or int(m.group(4)) < 0:
            return
        name, arguments, result_path = m.group(2), m.group(3), m.group(5)
        quoted = [q.encode().decode("unicode_escape") for q in QUOTED.findall(arguments)]
        fd = FD.match(arguments)
        why = line.strip()[:200]
        if name in ("mkdir", "mkdirat") and quoted:
            self.mark_entry(self.absolute(quoted[0], arguments), why)
        elif name.startswith("rename") and len(quoted) >= 2:
            self.moved(self.absolute(quoted[0], arguments), self.absolute(quoted[1], arguments),
                       why)
        elif name in ("unlink", "unlinkat", "rmdir") and quoted:
            self.removed(self.absolute(quoted[0], arguments), why)
        elif name == "openat" and result_path and "O_CREAT" in arguments:
            path = result_path[1:-1]
            self.mark(path, why)
            self.mark_entry(path, why)
        elif name in ("write", "pwrite64", "writev", "ftruncate", "fallocate") and fd:
            path = fd.group(2)
            if path.startswith(("TCP:", "TCPv6:", "socket:")):
                if name in ("write", "writev") and "HTTP/1.1 201 " in arguments[:200]:
                    self.check(why)
            else:
                self.mark(path, why)
        elif name in ("fsync", "fdatasync") and fd:
            self.clean(fd.group(2))

    def absolute(self, path, arguments):
        if path.startswith("/"):
            return os.path.normpath(path)
        dirfd = FD.match(arguments)
        base = dirfd.group(2) if dirfd else os.getcwd()
        return os.path.normpath(os.path.join(base, path))

    def check(self, why):
        self.acknowledged += 1
        left = {p: w for p, w in self.dirty.items() if not self.scratch(p)}
        if left:
            self.problems.append(
                f"201 sent ({why[:80]}) while not durable:\n" +
                "\n".join(f"  {p}\n    dirtied by: {w}" for p, w in sorted(left.items())))


@unittest.skipIf(shutil.which("strace") is None, "strace is not installed")
class FsyncBeforeAcknowledgementTest(CairnTestCase):

    def trace(self):
        trace_file = self.server.logdir / "fsync-order.strace"
        tracer = subprocess.Popen(  # noqa: SIM115 (closed in untrace)
            ["strace", "-f", "-qq", "-y", "-s", "32", "-e", f"trace={SYSCALLS}", "-o",
             str(trace_file), "-p", str(self.server.proc.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # strace is attached once it has written something or a moment passed.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and tracer.poll() is None:
            self.req("GET", "/v2/")
            if trace_file.exists() and trace_file.stat().st_size > 0:
                break
            time.sleep(0.05)
        if tracer.poll() is not None:
            message = tracer.stderr.read().decode(errors="replace")
            tracer.stderr.close()
            if "not permitted" in message:  # no ptrace here (a container's policy)
                self.skipTest(f"strace cannot attach: {message.strip()}")
            self.fail(f"strace exited: {message}")
        return tracer, trace_file

    def untrace(self, tracer):
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
        tracer.stderr.close()

    def lines(self, trace_file):
        """strace's lines, each call whole (an 'unfinished' call joined with
        its 'resumed' rest, which another thread's lines may separate)."""
        pending = {}
        for raw in trace_file.read_text(errors="replace").splitlines():
            pid = raw.split(" ", 1)[0]
            if raw.endswith("<unfinished ...>"):
                pending[pid] = raw[:-len("<unfinished ...>")].rstrip()
                continue
            m = re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", raw)
            if m and pid in pending:
                yield pending.pop(pid) + m.group(2)
                continue
            yield raw

    def test_every_201_after_its_fsyncs(self):
        tracer, trace_file = self.trace()
        try:
            fresh = self.repo("fresh")
            self.make_image(fresh, "v1", layers=2)            # new repository, new tag
            self.make_image(fresh, "v1")                      # the tag moves
            self.make_image(fresh)                            # by digest
            known = self.repo("known")
            self.push_blob(known, b"first blob of a known repository")
            data = b"pushed the way docker does: POST, then PUT ?digest="
            loc = self.start_upload(known)
            r = self.put_upload(loc, sha256(data), data)
            self.assertEqual(r.status, 201, r)
            chunks = [b"chunk one ", b"chunk two ", b"chunk three"]
            self.push_blob_chunked(known, chunks)
            self.make_image(known, "latest")
        finally:
            self.untrace(tracer)

        tracker = Tracker(self.server.root)
        for line in self.lines(trace_file):
            tracker.feed(line)
        self.assertGreaterEqual(tracker.acknowledged, 12,
                                f"too few 201s seen in {trace_file}: is -y working?")
        self.assertEqual(tracker.problems, [], "\n\n".join(tracker.problems))


if __name__ == "__main__":
    unittest.main()
