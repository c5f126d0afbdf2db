"""``python -m core weights download|list`` and the admin page's job: torchvision's files fetched
with torch's downloader from a local HTTP server on 127.0.0.1 (never the real network), the hash
in the file name checked, a corrupted file refused and nothing kept, a clear line offline."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import threading
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import admin_jobs
from core.cli import main
from core.errors import UserError
from core.models import registry
from core.models.weights import download_weights, find_weights, list_weights, weights_file_name
from tests.app_pages import click
from tests.quiz_helpers import make_user

PAGE = Path(__file__).resolve().parent.parent / "pages" / "admin.py"


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Any connection but to 127.0.0.1 fails the test."""
    real = socket.create_connection

    def local_only(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"the network was touched: {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_only)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache; torch.hub.get_dir() points into it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def server(tmp_path):
    """A local HTTP server for the files under ``served/``; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def small_state_dict_bytes(seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    buffer = io.BytesIO()
    torch.save({"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.randn(4)}, buffer)
    return buffer.getvalue()


def serve_as_torchvision(monkeypatch, server, arch: str, data: bytes, name_from: bytes) -> str:
    """Serve ``data`` as ``arch``'s ImageNet file, named as torchvision names its files
    (``NAME-HASH8.pth``) with the hash of ``name_from``, and point ``arch``'s weights URL at
    the server. Returns the file name."""
    folder, base = server
    name = f"{arch}-{hashlib.sha256(name_from).hexdigest()[:8]}.pth"
    (folder / "models").mkdir(exist_ok=True)
    (folder / "models" / name).write_bytes(data)
    spec = registry.SPECS[arch]
    monkeypatch.setitem(registry.SPECS, arch, replace(
        spec, weights=SimpleNamespace(url=f"{base}/models/{name}")))
    return name


def test_download_fetches_checks_and_keeps_the_file(monkeypatch, server, torch_home):
    data = small_state_dict_bytes()
    name = serve_as_torchvision(monkeypatch, server, "googlenet", data, data)
    assert weights_file_name("googlenet") == name
    assert find_weights("googlenet", "auto") is None
    path = download_weights("googlenet", progress=False)
    assert path == torch_home / name
    assert path.read_bytes() == data
    assert find_weights("googlenet", "auto") == path  # --init auto now starts from it
    state = torch.load(path, weights_only=True)
    assert state["conv.weight"].shape == (4, 3, 3, 3)
    (Path(server[0]) / "models" / name).unlink()  # intact files are not fetched again
    assert download_weights("googlenet", progress=False) == path


def test_a_damaged_copy_is_reported_and_replaced(monkeypatch, server, torch_home, capsys):
    data = small_state_dict_bytes(3)
    name = serve_as_torchvision(monkeypatch, server, "googlenet", data, data)
    torch_home.mkdir(parents=True)
    (torch_home / name).write_bytes(data[:100])  # a copy by hand that stopped half-way
    [listed] = list_weights(["googlenet"], check=True)
    assert listed.present and listed.intact is False
    assert main(["weights", "list", "--arch", "googlenet", "--check"]) == 0
    assert "DAMAGED" in capsys.readouterr().out
    assert download_weights("googlenet", progress=False).read_bytes() == data
    assert list_weights(["googlenet"], check=True)[0].intact


def test_a_corrupted_file_is_refused_and_nothing_is_kept(monkeypatch, server, torch_home):
    good = small_state_dict_bytes()
    corrupted = bytearray(good)
    corrupted[len(corrupted) // 2] ^= 0xFF
    name = serve_as_torchvision(monkeypatch, server, "resnet50", bytes(corrupted), good)
    with pytest.raises(UserError, match="invalid hash value.*refused, nothing was kept"):
        download_weights("resnet50", progress=False)
    assert not torch_home.exists() or list(torch_home.iterdir()) == []
    assert find_weights("resnet50", "auto") is None
    assert name.startswith("resnet50-")


def test_offline_is_one_line_naming_the_file_and_the_folder(monkeypatch, torch_home, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = registry.SPECS["vgg16"]
    monkeypatch.setitem(registry.SPECS, "vgg16", replace(spec, weights=SimpleNamespace(
        url=f"http://127.0.0.1:{port}/models/vgg16-397923af.pth")))
    assert main(["weights", "download", "--arch", "vgg16"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "Traceback" not in error
    assert "cannot download" in error
    assert f"copy vgg16-397923af.pth by hand into {torch_home}" in error


def test_command_line_download_into_a_folder_and_list(monkeypatch, server, tmp_path, capsys):
    folder, base = server
    data = small_state_dict_bytes(1)
    name = serve_as_torchvision(monkeypatch, server, "alexnet", data, data)
    # --url-base: a mirror holding the files under their own names
    mirror = folder / "mirror"
    mirror.mkdir()
    (mirror / name).write_bytes(data)
    target = tmp_path / "weights"
    assert main(["weights", "list", "--arch", "alexnet,resnet50", "--dir", str(target),
                 "--json"]) == 0
    assert [row["present"] for row in json.loads(capsys.readouterr().out)] == [False, False]
    assert main(["weights", "download", "--arch", "alexnet", "--dir", str(target),
                 "--url-base", f"{base}/mirror/", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["present"] and row["file"] == name and (target / name).read_bytes() == data
    assert main(["weights", "list", "--arch", "alexnet,resnet50", "--dir", str(target)]) == 0
    text = capsys.readouterr().out
    assert "missing" in text and "weights download --arch resnet50" in text
    assert [f.present for f in list_weights(["alexnet", "resnet50"], target)] == [True, False]


def test_the_admin_job_downloads_and_the_page_offers_it(monkeypatch, server, torch_home, app_db):
    from pages import ui

    data = small_state_dict_bytes(2)
    name = serve_as_torchvision(monkeypatch, server, "densenet121", data, data)
    with pytest.raises(UserError, match="at least one"):
        admin_jobs.weights_job([])
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["user"] = make_user(ui.get_store(), "some_admin", "admin")
    at.run()
    shown = next(frame.value for frame in at.dataframe if "Present" in frame.value.columns)
    assert not shown["Present"].any()
    at.multiselect(key="weights_archs").set_value(["densenet121"])
    click(at, "Download the ImageNet weights")
    job = next(job for job in ui.get_runner().status() if job.kind == "weights")
    assert ui.get_runner().wait(job.job_id, 60).status == "done"
    at.run()
    assert (torch_home / name).read_bytes() == data
    assert any(name in message.value for message in at.success)
    shown = next(frame.value for frame in at.dataframe if "Present" in frame.value.columns)
    assert shown.set_index("File")["Present"][name]
