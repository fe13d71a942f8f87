"""The project key file: encryption at rest, key id, wrong passphrase."""

import json
from pathlib import Path

import pytest

from migralink.errors import KeyFileError
from pseudonymise.keys import key_id_of, read_key, write_key


def test_round_trip_and_key_id(tmp_path: Path) -> None:
    path = tmp_path / "p.key"
    key = write_key(path, "correct horse")
    again = read_key(path, "correct horse")
    assert again.secret == key.secret and again.key_id == key.key_id
    assert key.key_id == key_id_of(key.secret) and key.key_id.startswith("k1-")
    text = path.read_text()
    assert key.secret.hex() not in text and "correct horse" not in text
    assert key.key_id in text
    assert key.secret.hex() not in repr(key)


def test_two_keys_differ(tmp_path: Path) -> None:
    phrase = "long enough"
    assert write_key(tmp_path / "a", phrase).key_id != write_key(tmp_path / "b", phrase).key_id


def test_wrong_passphrase(tmp_path: Path) -> None:
    write_key(tmp_path / "p.key", "the right one")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        read_key(tmp_path / "p.key", "the wrong one")


def test_altered_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.key"
    write_key(path, "the right one")
    document = json.loads(path.read_text())
    document["generation"] = 2  # authenticated header: any change breaks decryption
    path.write_text(json.dumps(document))
    with pytest.raises(KeyFileError):
        read_key(path, "the right one")


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        read_key(tmp_path / "none.key", "x")
    with pytest.raises(KeyFileError, match="shorter than 8 characters"):
        write_key(tmp_path / "e.key", "short")
    (tmp_path / "dir.key").mkdir()
    with pytest.raises(KeyFileError, match="cannot read the key file"):
        read_key(tmp_path / "dir.key", "x")
    (tmp_path / "list.key").write_text("[1, 2]")
    with pytest.raises(KeyFileError, match="not a migralink key file"):
        read_key(tmp_path / "list.key", "x")


def test_rotation_makes_a_new_generation_and_keeps_the_old(tmp_path: Path) -> None:
    from pseudonymise.keys import rotate_key

    path = tmp_path / "project.key"
    first = write_key(path, "long enough")
    second, kept = rotate_key(path, "long enough")
    assert second.generation == 2 and second.key_id != first.key_id
    assert read_key(path, "long enough").key_id == second.key_id
    assert kept.name == "project.key.gen1"
    assert read_key(kept, "long enough").key_id == first.key_id
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        rotate_key(path, "not the one")


def test_cli_rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from migralink.cli import app

    monkeypatch.setenv("MIGRALINK_PASSPHRASE", "long enough")
    path = tmp_path / "project.key"
    first = CliRunner().invoke(app, ["keygen", "--out", str(path)]).output.strip()
    again = CliRunner().invoke(app, ["keygen", "--out", str(path)])
    assert again.exit_code == 2 and "--rotate" in again.output
    rotated = CliRunner().invoke(app, ["keygen", "--out", str(path), "--rotate"])
    assert rotated.exit_code == 0
    new_id = rotated.output.strip().splitlines()[0]
    assert new_id.startswith("k1-") and new_id != first
    assert read_key(path, "long enough").generation == 2
