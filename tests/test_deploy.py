"""deploy/: the docker-compose file and the KubeRay sketch parse, and name only real settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tympan.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SETTING = re.compile(r"\bTYMPAN_[A-Z0-9_]+")


def _settings_named(path: Path) -> set[str]:
    return {name.removeprefix("TYMPAN_").lower() for name in SETTING.findall(path.read_text())}


def test_compose_runs_tympan_beside_postgresql_with_data_and_artifact_volumes() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"db", "tympan"}
    tympan = compose["services"]["tympan"]
    env = tympan["environment"]
    assert env["TYMPAN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["TYMPAN_DATABASE_URL"].endswith("@db:5432/tympan")
    assert {"data", "artifacts"} <= set(compose["volumes"])
    mounts = {volume.split(":")[1].split()[0] for volume in tympan["volumes"]}
    assert {env["TYMPAN_DATA_DIR"], env["TYMPAN_ARTIFACT_URL"].removeprefix("file://")} == mounts


def test_kuberay_head_serves_the_api_on_the_cluster_it_heads() -> None:
    documents = {
        doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "kuberay.yaml").read_text())
    }
    assert {"RayCluster", "Service", "Secret", "PersistentVolumeClaim"} <= set(documents)
    head = documents["RayCluster"]["spec"]["headGroupSpec"]["template"]["spec"]
    (api,) = [c for c in head["containers"] if c["name"] == "tympan"]
    assert api["command"][:4] == ["tympan", "serve", "--ray", "auto"]
    names = {item["name"] for item in api["env"]}
    assert {"TYMPAN_DATA_DIR", "TYMPAN_ARTIFACT_URL", "TYMPAN_DATABASE_URL"} <= names


def test_deploy_files_name_only_existing_settings() -> None:
    fields = set(Settings.model_fields)
    for name in ("docker-compose.yml", "kuberay.yaml", "Dockerfile"):
        named = _settings_named(DEPLOY / name)
        assert named, name
        assert named <= fields, f"{name} names unknown settings: {sorted(named - fields)}"
