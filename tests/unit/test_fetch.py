"""`nasharness data fetch cifar10` against a local HTTP server on 127.0.0.1 (never any other address).

The server serves a small archive in the official layout (cifar-10-batches-py/ with data_batch_1..5, test_batch,
batches.meta in the real pickle format) and can truncate, drop the connection once, stall, ignore Range, serve wrong
bytes or answer 404.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from nasharness.data import fetch as F
from nasharness.data.cifar import read_batches_py
from nasharness.errors import DataError

N_IMG = 3
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _pixels():
    rng = np.random.default_rng(7)
    return {name: rng.integers(0, 256, (N_IMG, 3072), dtype=np.uint8) for name in BATCHES}


def _labels(k):
    return [(k * N_IMG + i) % 10 for i in range(N_IMG)]


def _tar_bytes(members):
    """A .tar.gz of members (name, payload, kind): "file" (bytes), "dir", "symlink" (target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, payload, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tf.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o644
                tf.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _official_members(pixels):
    members = [("cifar-10-batches-py", None, "dir")]
    for k, name in enumerate(BATCHES):
        d = {b"batch_label": (b"testing batch 1 of 1" if name == "test_batch" else
                              f"training batch {k + 1} of 5".encode()),
             b"labels": _labels(k), b"data": pixels[name],
             b"filenames": [f"img_{k}_{i}.png".encode() for i in range(N_IMG)]}
        members.append((f"cifar-10-batches-py/{name}", pickle.dumps(d, protocol=2), "file"))
    meta = {b"num_cases_per_batch": N_IMG, b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                                             b"dog", b"frog", b"horse", b"ship", b"truck"],
            b"num_vis": 3072}
    members.append(("cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2), "file"))
    members.append(("cifar-10-batches-py/readme.html", b"<html>readme</html>", "file"))
    return members


PIXELS = _pixels()
ARCHIVE = _tar_bytes(_official_members(PIXELS))
MD5 = hashlib.md5(ARCHIVE).hexdigest()


class _State:
    def __init__(self):
        self.mode = "ok"  # ok | truncate | drop_once | stall | wrong | 404 | ignore_range
        self.body = ARCHIVE
        self.drop_after = len(ARCHIVE) // 3
        self.dropped = False
        self.requests: list[dict] = []
        self.release = threading.Event()
        self.location = "/moved.tar.gz"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        st = self.server.state
        rec = {"path": self.path, "range": self.headers.get("Range"), "sent": 0}
        st.requests.append(rec)
        if st.mode == "404":
            self.send_error(404, "Not Found")
            return
        if st.mode == "redirect" and self.path != "/moved.tar.gz":
            self.send_response(302)
            self.send_header("Location", st.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = hashlib.sha256(st.body).digest() * (len(st.body) // 32 + 1) if st.mode == "wrong" else st.body
        body = body[:len(st.body)]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m and st.mode != "ignore_range":
            start = int(m[1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Type", "application/x-gzip")
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if st.mode == "truncate":
            chunk = chunk[: len(chunk) // 2]  # announced more than sent; HTTP/1.0 closes the connection
        elif st.mode == "drop_once" and not st.dropped:
            st.dropped = True
            chunk = chunk[: st.drop_after]
        elif st.mode == "stall":
            self.wfile.write(chunk[:100])
            self.wfile.flush()
            rec["sent"] += 100
            st.release.wait(5)
            return
        self.wfile.write(chunk)
        rec["sent"] += len(chunk)


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("NASHARNESS_CIFAR10_URL", raising=False)
    monkeypatch.delenv("NASHARNESS_CIFAR10_MD5", raising=False)
    monkeypatch.setattr(F, "RETRY_DELAY_S", 0.0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.state = _State()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/cifar-10-python.tar.gz"
    yield httpd
    httpd.state.release.set()
    httpd.shutdown()
    httpd.server_close()


def _fetch(server, dest, **kw):
    kw.setdefault("md5", MD5)
    kw.setdefault("retries", 0)
    kw.setdefault("timeout", 5)
    return F.fetch_cifar10(dest, url=kw.pop("url", server.url), **kw)


def _part(dest):
    return dest / "downloads" / "cifar-10-python.tar.gz.part"


def _assert_pixels(folder):
    d = read_batches_py(folder)
    want = np.concatenate([PIXELS[n] for n in BATCHES[:5]]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert np.array_equal(d.train_x, want)
    assert np.array_equal(d.test_x, PIXELS["test_batch"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert d.train_y.tolist() == sum((_labels(k) for k in range(5)), [])
    assert d.test_y.tolist() == _labels(5)


def test_fetch_installs_verified_batches_and_second_call_is_noop(server, tmp_path):
    seen = []
    path = _fetch(server, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "cifar-10-batches-py" and path.is_dir()
    _assert_pixels(path)
    assert seen[-1] == (len(ARCHIVE), len(ARCHIVE)) and all(t == len(ARCHIVE) for _, t in seen)
    manifest = json.loads((path / F.MANIFEST).read_text())
    assert manifest["md5"] == MD5 and manifest["sha256"] == hashlib.sha256(ARCHIVE).hexdigest()
    assert manifest["url"] == server.url and manifest["fetched_at"]
    assert set(manifest["files"]) == set(F.EXPECTED_MEMBERS) | {"readme.html"}
    assert manifest["files"]["test_batch"]["sha256"] == hashlib.sha256((path / "test_batch").read_bytes()).hexdigest()
    assert not _part(tmp_path).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py", "downloads"]  # no temp leftovers
    assert F.installed_cifar10(tmp_path) == path and F.installed_cifar10(tmp_path, verify=True) == path
    n = len(server.state.requests)
    assert _fetch(server, tmp_path) == path and len(server.state.requests) == n  # no-op: no request
    # a damaged file (same size) fails the full check, and the next fetch repairs the install
    (path / "data_batch_2").write_bytes(b"\0" * (path / "data_batch_2").stat().st_size)
    assert F.installed_cifar10(tmp_path) == path and F.installed_cifar10(tmp_path, verify=True) is None
    assert _fetch(server, tmp_path) == path and len(server.state.requests) == n + 1
    _assert_pixels(path)


def test_default_dest_is_the_user_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    path = F.fetch_cifar10(url=server.url, md5=MD5, retries=0)
    assert path == tmp_path / "cache" / "cifar10" / "cifar-10-batches-py"
    assert F.installed_cifar10() == path


def test_truncated_body_keeps_part_and_installs_nothing(server, tmp_path):
    server.state.mode = "truncate"
    with pytest.raises(DataError) as err:
        _fetch(server, tmp_path)
    msg = str(err.value)
    assert "closed after" in msg and "resumes" in msg and "\n" not in msg
    assert not (tmp_path / "cifar-10-batches-py").exists()
    assert _part(tmp_path).stat().st_size == len(ARCHIVE) // 2
    assert F.installed_cifar10(tmp_path) is None


def test_dropped_connection_resumes_with_range_on_rerun(server, tmp_path):
    st = server.state
    st.mode = "drop_once"
    with pytest.raises(DataError, match="resumes"):
        _fetch(server, tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()
    assert _part(tmp_path).read_bytes() == ARCHIVE[: st.drop_after]
    path = _fetch(server, tmp_path)
    first, second = st.requests
    assert first["range"] is None and second["range"] == f"bytes={st.drop_after}-"
    assert second["sent"] == len(ARCHIVE) - st.drop_after  # only the rest was downloaded
    _assert_pixels(path)
    assert not _part(tmp_path).exists()


def test_dropped_connection_is_retried_within_one_call(server, tmp_path):
    st = server.state
    st.mode = "drop_once"
    path = _fetch(server, tmp_path, retries=2)
    assert [r["range"] for r in st.requests] == [None, f"bytes={st.drop_after}-"]
    assert sum(r["sent"] for r in st.requests) == len(ARCHIVE)
    _assert_pixels(path)


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    _part(tmp_path).parent.mkdir(parents=True)
    _part(tmp_path).write_bytes(b"garbage that is not a prefix")
    server.state.mode = "ignore_range"
    path = _fetch(server, tmp_path)
    assert server.state.requests[0]["range"] == "bytes=28-"
    _assert_pixels(path)


def test_complete_part_gets_416_and_is_verified(server, tmp_path):
    _part(tmp_path).parent.mkdir(parents=True)
    _part(tmp_path).write_bytes(ARCHIVE)
    path = _fetch(server, tmp_path)
    assert [r["range"] for r in server.state.requests] == [f"bytes={len(ARCHIVE)}-"]
    _assert_pixels(path)


def test_part_longer_than_expected_size_is_discarded(server, tmp_path):
    _part(tmp_path).parent.mkdir(parents=True)
    _part(tmp_path).write_bytes(ARCHIVE + b"extra")
    path = _fetch(server, tmp_path, size=len(ARCHIVE))
    assert [r["range"] for r in server.state.requests] == [None]
    _assert_pixels(path)


def test_checksum_mismatch_deletes_part(server, tmp_path):
    server.state.mode = "wrong"
    with pytest.raises(DataError) as err:
        _fetch(server, tmp_path)
    msg = str(err.value)
    assert f"expected {MD5}" in msg and "deleted" in msg and "\n" not in msg
    assert not _part(tmp_path).exists() and not (tmp_path / "cifar-10-batches-py").exists()


def test_official_checks_apply_by_default(server, tmp_path):
    """Without an MD5 override the published size is checked before downloading anything big."""
    with pytest.raises(DataError, match=f"{F.CIFAR10_SIZE:,} bytes"):
        F.fetch_cifar10(tmp_path, url=server.url, retries=0)
    assert not _part(tmp_path).exists()


def test_404(server, tmp_path):
    server.state.mode = "404"
    with pytest.raises(DataError, match="HTTP 404") as err:
        _fetch(server, tmp_path)
    assert "resumes" in str(err.value)
    assert not (tmp_path / "cifar-10-batches-py").exists()


def test_connection_refused(tmp_path, server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="could not connect") as err:
        _fetch(server, tmp_path, url=f"http://127.0.0.1:{port}/x.tar.gz")
    assert "resumes" in str(err.value)


def test_timeout_keeps_part(server, tmp_path):
    server.state.mode = "stall"
    with pytest.raises(DataError, match="no data arrived") as err:
        _fetch(server, tmp_path, timeout=0.3)
    assert "resumes" in str(err.value)
    assert _part(tmp_path).stat().st_size == 100 and not (tmp_path / "cifar-10-batches-py").exists()


def test_same_host_redirect_is_followed_other_hosts_refused(server, tmp_path):
    server.state.mode = "redirect"
    path = _fetch(server, tmp_path)
    assert [r["path"] for r in server.state.requests] == ["/cifar-10-python.tar.gz", "/moved.tar.gz"]
    _assert_pixels(path)
    server.state.location = f"http://localhost:{server.server_address[1]}/moved.tar.gz"  # another host name
    with pytest.raises(DataError, match="redirected .* to another host"):
        _fetch(server, tmp_path / "b")
    assert len(server.state.requests) == 3  # the redirect was not followed


@pytest.mark.parametrize("bad", [
    ("cifar-10-batches-py/../evil", b"x", "file"),
    ("/tmp/evil", b"x", "file"),
    ("cifar-10-batches-py/link", "/etc/passwd", "symlink"),
    ("elsewhere/file", b"x", "file"),
])
def test_unsafe_archive_is_refused(server, tmp_path, bad):
    server.state.body = _tar_bytes(_official_members(PIXELS) + [bad])
    with pytest.raises(DataError, match="not a CIFAR-10 python archive"):
        _fetch(server, tmp_path, md5=hashlib.md5(server.state.body).hexdigest())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads"]
    assert not (tmp_path.parent / "evil").exists()


def test_missing_member_is_refused(server, tmp_path):
    server.state.body = _tar_bytes([m for m in _official_members(PIXELS) if not m[0].endswith("batches.meta")])
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/batches.meta"):
        _fetch(server, tmp_path, md5=hashlib.md5(server.state.body).hexdigest())
    assert not (tmp_path / "cifar-10-batches-py").exists()


def test_foreign_folder_is_not_overwritten(server, tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "mine").write_text("keep")
    with pytest.raises(DataError, match="not installed by"):
        _fetch(server, tmp_path)
    assert (tmp_path / "cifar-10-batches-py" / "mine").read_text() == "keep" and not server.state.requests


def test_cli_fetch_and_info(server, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nasharness.cli import cli

    monkeypatch.setenv("NASHARNESS_CIFAR10_MD5", MD5)
    monkeypatch.setenv("NASHARNESS_CIFAR10_URL", server.url)
    runner = CliRunner()
    res = runner.invoke(cli, ["data", "fetch", "cifar10", "--dest", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(tmp_path / "cifar-10-batches-py")
    _assert_pixels(tmp_path / "cifar-10-batches-py")
    res = runner.invoke(cli, ["data", "info", "--dest", str(tmp_path)])
    assert res.exit_code == 0 and "verified" in res.stdout and str(tmp_path / "cifar-10-batches-py") in res.stdout

    server.state.mode = "404"
    other = tmp_path / "other"
    res = runner.invoke(cli, ["data", "fetch", "cifar10", "--dest", str(other), "--url", server.url + "x", "-q"])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert err.startswith("error: ") and "HTTP 404" in err and "\n" not in err
    assert not (other / "cifar-10-batches-py").exists()
    res = runner.invoke(cli, ["data", "info", "--dest", str(other)])
    assert res.exit_code == 0 and "not installed" in res.stdout


def test_cli_import_stays_light():
    import subprocess
    import sys

    code = ("import sys; import nasharness.cli; "
            "print(sorted(m for m in ('rich', 'torch', 'mlflow', 'nasharness.data.fetch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
