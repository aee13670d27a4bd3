"""Hot reload: edits of the config file (in place, temp-and-rename, a
Kubernetes `..data` symlink swap) and of the htpasswd file take effect for
new requests without a restart; SIGHUP forces a reload; a broken edit is
refused and the previous configuration keeps serving; settings that need a
restart keep their old value."""

import os
import shutil
import signal
import socket
import tempfile
import unittest
from pathlib import Path

from cairn_server import (HOST, CairnServer, basic_auth, free_port, helpers_for, htpasswd_text,
                          merge, password_of, poll_until, write_atomic, write_in_place,
                          yaml_doc)

RELOAD_TIMEOUT = 3.0  # the contract says ~1 s; poll up to 3 s


def base_config(**extra):
    return merge({"version": "0.1", "log": {"level": "info"}}, extra)


def readonly_config(enabled):
    return base_config(storage={"maintenance": {"readonly": {"enabled": enabled}}})


class ReloadTestCase(unittest.TestCase):
    """A fresh server per test, with a config file in its own directory."""

    def start_server(self, config_obj=None, **kw):
        kw.setdefault("config", yaml_doc(config_obj if config_obj is not None else base_config()))
        server = CairnServer(**kw)
        self.addCleanup(server.cleanup)
        server.start()
        self.server = server
        return server

    def tearDown(self):
        server = getattr(self, "server", None)
        if server is not None and server.proc is not None:
            server.stop()  # asserts exit status 0

    def upload_status(self, view=None, name="reload/x"):
        return (view or self.server).request("POST", f"/v2/{name}/blobs/uploads/").status

    def wait_for_upload_status(self, want, view=None, name="reload/x"):
        got = poll_until(lambda: self.upload_status(view, name) == want, timeout=RELOAD_TIMEOUT)
        if not got:
            self.fail(f"POST upload did not turn {want} within {RELOAD_TIMEOUT}s "
                      f"(now {self.upload_status(view, name)})\n{self.server.log_tail()}")

    def assert_log(self, pattern, mark):
        line = self.server.wait_for_log(pattern, mark, timeout=RELOAD_TIMEOUT)
        self.assertIsNotNone(line, f"no log line matching {pattern!r} after the edit:\n"
                                   f"{self.server.log_since(mark)}")
        return line


class ConfigFileReloadTest(ReloadTestCase):

    def test_edit_in_place_toggles_read_only(self):
        server = self.start_server(readonly_config(False))
        self.assertEqual(self.upload_status(), 202)
        mark = server.log_mark()
        write_in_place(server.config_path, yaml_doc(readonly_config(True)))
        self.wait_for_upload_status(405)
        self.assert_log(r"reloaded", mark)
        write_in_place(server.config_path, yaml_doc(readonly_config(False)))
        self.wait_for_upload_status(202)

    def test_write_temp_and_rename(self):
        server = self.start_server(readonly_config(False))
        mark = server.log_mark()
        write_atomic(server.config_path, yaml_doc(readonly_config(True)))
        self.wait_for_upload_status(405)
        self.assert_log(r"reloaded", mark)
        # the watch must survive the rename: a second editor save works too
        write_atomic(server.config_path, yaml_doc(readonly_config(False)))
        self.wait_for_upload_status(202)
        write_atomic(server.config_path, yaml_doc(readonly_config(True)))
        self.wait_for_upload_status(405)

    def test_kubernetes_symlink_swap(self):
        """ConfigMap volume: config.yml -> ..data/config.yml, ..data -> ..<ts>;
        an update writes a new ..<ts2> directory and renames a new ..data
        symlink over the old one."""
        confdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-k8s-"))
        self.addCleanup(shutil.rmtree, confdir, True)
        v1 = confdir / "..2030_01_01_00_00_00.000000001"
        v1.mkdir()
        (v1 / "config.yml").write_text(yaml_doc(readonly_config(False)))
        os.symlink(v1.name, confdir / "..data")
        os.symlink("..data/config.yml", confdir / "config.yml")
        self.start_server(config=None, config_path=confdir / "config.yml")
        self.assertEqual(self.upload_status(), 202)

        def swap(n, cfg):
            vn = confdir / f"..2030_01_01_00_00_00.00000000{n}"
            vn.mkdir()
            (vn / "config.yml").write_text(yaml_doc(cfg))
            tmp = confdir / "..data_tmp"
            os.symlink(vn.name, tmp)
            os.replace(tmp, confdir / "..data")
            return vn

        old = v1
        for n, (cfg, want) in enumerate([(readonly_config(True), 405),
                                          (readonly_config(False), 202),
                                          (readonly_config(True), 405)], start=2):
            new = swap(n, cfg)
            shutil.rmtree(old)  # kubelet removes the old timestamped directory
            old = new
            self.wait_for_upload_status(want)

    def test_sighup_forces_reload(self):
        server = self.start_server(readonly_config(False))
        mark = server.log_mark()
        server.signal(signal.SIGHUP)
        self.assert_log(r"reloaded", mark)
        self.assertEqual(self.upload_status(), 202)
        self.assertEqual(server.proc.poll(), None, "SIGHUP ended the server")

    def test_broken_yaml_is_refused(self):
        server = self.start_server(readonly_config(True))
        self.assertEqual(self.upload_status(), 405)
        mark = server.log_mark()
        write_atomic(server.config_path,
                     "version: 0.1\nstorage:\n  maintenance: [unclosed\n")
        self.assert_log(r"refused", mark)
        # still the previous configuration (read-only), still serving
        self.assertEqual(self.upload_status(), 405)
        self.assertEqual(server.request("GET", "/v2/").status, 200)
        # and a later good edit is applied
        write_atomic(server.config_path, yaml_doc(readonly_config(False)))
        self.wait_for_upload_status(202)

    def test_wrong_type_is_refused(self):
        server = self.start_server(readonly_config(True))
        mark = server.log_mark()
        write_in_place(server.config_path,
                       "storage:\n  maintenance:\n    readonly:\n      enabled: false\n"
                       "cairn:\n  threads: many\n")
        line = self.assert_log(r"refused", mark)
        self.assertIn("cairn.threads", line + server.log_since(mark))
        self.assertEqual(self.upload_status(), 405, "a refused file was half-applied")

    def test_unknown_cairn_key_is_refused(self):
        server = self.start_server(readonly_config(True))
        mark = server.log_mark()
        write_atomic(server.config_path,
                     "storage:\n  maintenance:\n    readonly:\n      enabled: false\n"
                     "cairn:\n  no_such_setting: 1\n")
        self.assert_log(r"refused", mark)
        self.assertEqual(self.upload_status(), 405)

    def test_deleted_config_file_keeps_serving(self):
        server = self.start_server(readonly_config(True))
        mark = server.log_mark()
        server.config_path.unlink()
        server.signal(signal.SIGHUP)
        self.assert_log(r"refused", mark)
        self.assertEqual(self.upload_status(), 405)
        # the file comes back: watched again
        write_atomic(server.config_path, yaml_doc(readonly_config(False)))
        server.signal(signal.SIGHUP)
        self.wait_for_upload_status(202)

    def test_reload_counter_in_metrics(self):
        server = self.start_server(readonly_config(False))

        def reloads():
            r = server.request("GET", "/metrics")
            self.assertEqual(r.status, 200, r)
            total = 0.0
            for line in r.body.decode().splitlines():
                if line.startswith("cairn_config_reloads_total"):
                    total += float(line.rsplit(" ", 1)[1])
            return total

        before = reloads()
        mark = server.log_mark()
        server.signal(signal.SIGHUP)
        self.assert_log(r"reloaded", mark)
        self.assertTrue(poll_until(lambda: reloads() > before, timeout=RELOAD_TIMEOUT),
                        "cairn_config_reloads_total did not grow after SIGHUP")


class NeedsRestartTest(ReloadTestCase):
    """http.addr, rootdirectory and cairn.threads keep their old value."""

    def file_config(self, root, port, threads=2, read_only=False):
        return yaml_doc({
            "version": "0.1",
            "storage": {"filesystem": {"rootdirectory": str(root)},
                        "maintenance": {"readonly": {"enabled": read_only}}},
            "http": {"addr": f"{HOST}:{port}"},
            "cairn": {"threads": threads}})

    def start_file_server(self):
        return self.start_server(
            use_flags=False, config=lambda s: self.file_config(s.root, s.port))

    def test_threads_change_needs_restart(self):
        server = self.start_file_server()
        mark = server.log_mark()
        write_atomic(server.config_path,
                     self.file_config(server.root, server.port, threads=5, read_only=True))
        line = self.assert_log(r"needs restart", mark)
        self.assertIn("threads", line + server.log_since(mark))
        # the rest of the file is applied
        self.wait_for_upload_status(405)

    def test_addr_change_needs_restart(self):
        server = self.start_file_server()
        other = free_port()
        mark = server.log_mark()
        write_atomic(server.config_path,
                     self.file_config(server.root, other, read_only=True))
        self.assert_log(r"needs restart", mark)
        self.wait_for_upload_status(405)
        self.assertEqual(server.request("GET", "/v2/").status, 200)
        with self.assertRaises(OSError, msg="cairn moved to the new address live"):
            socket.create_connection((HOST, other), timeout=1).close()

    def test_root_change_needs_restart(self):
        server = self.start_file_server()
        other_root = Path(tempfile.mkdtemp(prefix="cairn-e2e-otherroot-"))
        self.addCleanup(shutil.rmtree, other_root, True)
        mark = server.log_mark()
        write_atomic(server.config_path, self.file_config(other_root, server.port))
        self.assert_log(r"needs restart", mark)
        d = helpers_for(server).push_blob("reload/root", b"still the old root")
        self.assertTrue(server.tree.blob_data(d).is_file())
        self.assertEqual(list(other_root.iterdir()), [])


class HtpasswdReloadTest(ReloadTestCase):

    def start_auth_server(self, users):
        self.confdir = Path(tempfile.mkdtemp(prefix="cairn-e2e-htpw-"))
        self.addCleanup(shutil.rmtree, self.confdir, True)
        self.htpasswd = self.confdir / "htpasswd"
        self.htpasswd.write_text(htpasswd_text(users))
        return self.start_server(base_config(
            auth={"htpasswd": {"realm": "reload-realm", "path": str(self.htpasswd)}}))

    def status_as(self, user):
        return self.server.request("GET", "/v2/", headers={
            "Authorization": basic_auth(user, password_of(user))}).status

    def test_add_user_in_place(self):
        self.start_auth_server(["alice"])
        self.assertEqual(self.status_as("alice"), 200)
        self.assertEqual(self.status_as("bob"), 401)
        write_in_place(self.htpasswd, htpasswd_text(["alice", "bob"]))
        self.assertTrue(poll_until(lambda: self.status_as("bob") == 200, RELOAD_TIMEOUT),
                        f"bob cannot log in after being added\n{self.server.log_tail()}")
        self.assertEqual(self.status_as("alice"), 200)

    def test_add_and_remove_user_by_rename(self):
        self.start_auth_server(["alice"])
        write_atomic(self.htpasswd, htpasswd_text(["alice", "carol"]))
        self.assertTrue(poll_until(lambda: self.status_as("carol") == 200, RELOAD_TIMEOUT),
                        self.server.log_tail())
        write_atomic(self.htpasswd, htpasswd_text(["carol"]))
        self.assertTrue(poll_until(lambda: self.status_as("alice") == 401, RELOAD_TIMEOUT),
                        "alice can still log in after her removal")
        self.assertEqual(self.status_as("carol"), 200)

    def test_switch_htpasswd_path_in_config(self):
        self.start_auth_server(["alice"])
        other = self.confdir / "htpasswd2"
        other.write_text(htpasswd_text(["dave"]))
        write_atomic(self.server.config_path, yaml_doc(base_config(
            auth={"htpasswd": {"realm": "reload-realm", "path": str(other)}})))
        self.assertTrue(poll_until(lambda: self.status_as("dave") == 200, RELOAD_TIMEOUT))
        self.assertEqual(self.status_as("alice"), 401)
        # the new file is the one watched now
        write_atomic(other, htpasswd_text(["dave", "erin"]))
        self.assertTrue(poll_until(lambda: self.status_as("erin") == 200, RELOAD_TIMEOUT))

    def test_missing_htpasswd_file_is_refused(self):
        self.start_auth_server(["alice"])
        mark = self.server.log_mark()
        write_atomic(self.server.config_path, yaml_doc(base_config(
            auth={"htpasswd": {"realm": "reload-realm",
                               "path": str(self.confdir / "nope")}})))
        self.assert_log(r"refused", mark)
        self.assertEqual(self.status_as("alice"), 200)

    def test_enable_auth_live(self):
        server = self.start_server(base_config())
        self.assertEqual(server.request("GET", "/v2/").status, 200)
        htpasswd = Path(server.confdir) / "htpasswd"
        htpasswd.write_text(htpasswd_text(["alice"]))
        write_atomic(server.config_path, yaml_doc(base_config(
            auth={"htpasswd": {"realm": "live", "path": str(htpasswd)}})))
        self.assertTrue(poll_until(lambda: server.request("GET", "/v2/").status == 401,
                                   RELOAD_TIMEOUT))
        self.assertEqual(self.status_as("alice"), 200)

    def test_access_rules_change_live(self):
        self.start_auth_server(["alice"])
        alice = self.server.as_user("alice", password_of("alice"))
        self.assertEqual(self.upload_status(alice, "team-b/x"), 202)  # no rules: all allowed
        write_atomic(self.server.config_path, yaml_doc(base_config(
            auth={"htpasswd": {"realm": "reload-realm", "path": str(self.htpasswd)}},
            cairn={"access": [{"subjects": ["alice"], "repositories": ["team-a/*"],
                               "actions": ["pull", "push"]}]})))
        self.wait_for_upload_status(403, alice, "team-b/x")
        self.assertEqual(self.upload_status(alice, "team-a/x"), 202)


if __name__ == "__main__":
    unittest.main()
