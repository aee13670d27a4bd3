"""Running cairn-gc and cairn-fsck from the e2e tests (stdlib only).

The binaries come from CAIRN_GC_BINARY and CAIRN_FSCK_BINARY (ctest sets
them); a test that needs one is skipped when the variable is unset or names
no file.

    gc = gc_binary_or_skip()
    res = run_gc(gc, "--root", root, "--grace", "0s", "--json")
    res.rc, res.doc (the parsed --json object), res.stdout, res.stderr
    deleted_digests(res.doc)        # {"sha256:...": size}
"""

import json
import os
import subprocess
import unittest
from pathlib import Path

GC_TIMEOUT = 120.0


class ToolResult:
    def __init__(self, cmd, rc, stdout, stderr):
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.doc = None
        self.json_error = None

    def describe(self):
        return (f"{' '.join(str(c) for c in self.cmd)} -> exit {self.rc}\n"
                f"stdout: {self.stdout[-4000:]}\nstderr: {self.stderr[-4000:]}")

    def __repr__(self):
        return f"<ToolResult {self.describe()}>"


def _binary(var):
    b = os.environ.get(var)
    if not b:
        return None
    if not Path(b).is_file():
        return None
    return b


def gc_binary():
    return _binary("CAIRN_GC_BINARY")


def fsck_binary():
    return _binary("CAIRN_FSCK_BINARY")


def gc_binary_or_skip():
    b = gc_binary()
    if b is None:
        raise unittest.SkipTest("CAIRN_GC_BINARY is not set or names no file")
    return b


def run_tool(binary, *args, timeout=GC_TIMEOUT, want_json=False):
    cmd = [binary] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{cmd} did not finish within {timeout}s") from e
    res = ToolResult(cmd, p.returncode, p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"))
    if want_json:
        try:
            res.doc = json.loads(res.stdout)
        except ValueError as e:
            res.json_error = str(e)
    return res


def run_gc(binary, *args, timeout=GC_TIMEOUT):
    """cairn-gc with `args`; parses stdout as JSON when --json is among them."""
    return run_tool(binary, *args, timeout=timeout, want_json="--json" in args)


def run_fsck(binary, *args, timeout=GC_TIMEOUT):
    return run_tool(binary, *args, timeout=timeout, want_json="--json" in args)


def deleted_digests(doc):
    """{digest: size} from a cairn-gc --json document's deleted.blobs."""
    out = {}
    for b in doc["deleted"]["blobs"]:
        out[b["digest"]] = b["size"]
    return out


def check_gc_document(tc, doc, *, dry_run, delete_untagged, grace_seconds):
    """The --json object has the documented shape and echoes the flags."""
    tc.assertIsInstance(doc, dict, doc)
    for key in ("dry_run", "delete_untagged", "grace_seconds", "marked", "deleted", "kept",
                "errors", "seconds"):
        tc.assertIn(key, doc, f"cairn-gc --json lacks {key!r}: {doc}")
    tc.assertIs(doc["dry_run"], dry_run, doc)
    tc.assertIs(doc["delete_untagged"], delete_untagged, doc)
    tc.assertEqual(doc["grace_seconds"], grace_seconds, doc)
    for key in ("manifests", "blobs"):
        tc.assertIsInstance(doc["marked"].get(key), int, doc["marked"])
    d = doc["deleted"]
    tc.assertIsInstance(d.get("blobs"), list, d)
    for b in d["blobs"]:
        tc.assertRegex(b.get("digest", ""), r"^sha256:[0-9a-f]{64}$", b)
        tc.assertIsInstance(b.get("size"), int, b)
    for key in ("bytes", "layer_links", "uploads", "temporary_files", "directories"):
        tc.assertIsInstance(d.get(key), int, f"deleted.{key}: {d}")
    tc.assertIsInstance(d.get("revisions"), list, d)
    tc.assertIsInstance(doc["kept"].get("freshened"), int, doc["kept"])
    tc.assertIsInstance(doc["errors"], list, doc)
    for key in ("mark", "sweep", "total"):
        tc.assertIsInstance(doc["seconds"].get(key), (int, float), doc["seconds"])
    digests = [b["digest"] for b in d["blobs"]]
    tc.assertEqual(len(digests), len(set(digests)), f"a blob listed twice: {digests}")
    tc.assertEqual(d["bytes"], sum(b["size"] for b in d["blobs"]), d)


def fsck_sound(tc, root, *, jobs=None):
    """cairn-fsck --json says sound (exit 0). `root` is the tree's root, or
    the list of location arguments (["--config", F]). Skipped (with a note on
    stderr) when CAIRN_FSCK_BINARY is not there."""
    b = fsck_binary()
    if b is None:
        import sys
        print("note: CAIRN_FSCK_BINARY not set: fsck check skipped", file=sys.stderr)
        return None
    args = (list(root) if isinstance(root, (list, tuple)) else ["--root", root]) + ["--json"]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    res = run_fsck(b, *args)
    tc.assertIsNotNone(res.doc, f"cairn-fsck --json printed no JSON ({res.json_error})\n"
                                f"{res.describe()}")
    tc.assertIs(res.doc.get("sound"), True, f"cairn-fsck says unsound:\n{res.describe()}")
    tc.assertEqual(res.rc, 0, res.describe())
    return res.doc
