"""Asset errors (fast): a missing package or a corrupt packaged file gives a clear AssetError."""

import sys

import pytest

from ground import assets


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "fake_llm_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model.gguf").write_bytes(b"GGUF but not really" * 10)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("T2L_HOME", str(tmp_path / "home"))
    yield pkg
    sys.modules.pop("fake_llm_pkg", None)


def _register(monkeypatch, sha256):
    spec = assets.PackagedModel("fake_llm_pkg", "fake-llm-pkg", "model.gguf", sha256, "pip install fake-llm-pkg")
    monkeypatch.setitem(assets.PACKAGED_BASE_MODELS, "org/fake-llm", spec)


def test_corrupt_gguf_is_caught_by_its_checksum(fake_package, monkeypatch):
    _register(monkeypatch, "0" * 64)
    with pytest.raises(assets.AssetError, match="model.gguf is corrupt.*reinstall"):
        assets.prepare_base_model("org/fake-llm")


def test_unparseable_gguf_is_a_clear_error(fake_package, monkeypatch):
    _register(monkeypatch, None)
    with pytest.raises(assets.AssetError, match="cannot read .*model.gguf"):
        assets.prepare_base_model("org/fake-llm")


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(assets.PACKAGED_BASE_MODELS, "org/absent", assets.PackagedModel(
        "surely_not_installed_pkg", "surely-not-installed", "m.gguf", None, "pip install surely-not-installed"))
    with pytest.raises(assets.AssetError, match="'surely-not-installed' is not installed.*pip install"):
        assets.prepare_base_model("org/absent", home=tmp_path)


def test_other_models_pass_through_unchanged(tmp_path):
    assert assets.prepare_base_model("mistralai/Mistral-7B-Instruct-v0.2", home=tmp_path) == \
        "mistralai/Mistral-7B-Instruct-v0.2"
    assert assets.prepare_encoder("/models/gte-large", home=tmp_path) == "/models/gte-large"
    assert not (tmp_path / "models").exists()


def test_packaged_encoder_is_linked_once(tmp_path):
    first = assets.prepare_encoder(home=tmp_path)
    assert (tmp_path / "models" / "all-MiniLM-L6-v2" / "modules.json").is_file()
    assert assets.prepare_encoder(home=tmp_path) == first
