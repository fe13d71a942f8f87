"""Shared fixtures: the demo config pointed at a temporary work directory."""

from pathlib import Path

import pytest

from migralink.config import CONFIGS_DIR, JobConfig, load_config
from pseudonymise.keys import ProjectKey

BORDER_HEADER = ("id_passage;date_passage;sens;poste;type_document;num_document;nom;prenom;"
                 "sexe;date_naissance;nationalite")


@pytest.fixture
def demo_config(tmp_path: Path) -> JobConfig:
    return load_config(CONFIGS_DIR / "demo.yaml", workdir=tmp_path)


@pytest.fixture
def key() -> ProjectKey:
    return ProjectKey(b"t" * 32)


def write_border(config: JobConfig, *rows: str, header: str = BORDER_HEADER) -> Path:
    path = config.at(config.sources["border"].file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path
