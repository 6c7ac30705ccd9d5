"""Server-side dataset paths: read only under TYMPAN_DATASET_ROOTS, links resolved, 403 else."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EVAL_DIR, Client, make_settings, services_of
from tests.hostile import db_fingerprint
from tympan.errors import PermissionDenied
from tympan.paths import confine_path, require_under

FSDD = EVAL_DIR / "fsdd" / "audio"


def _class_folder(parent: Path, label: str, count: int = 2) -> Path:
    """``parent/label`` holding copies of real FSDD clips of that digit."""
    folder = parent / label
    folder.mkdir(parents=True)
    for clip in sorted(FSDD.glob(f"{label}_jackson_*.flac"))[:count]:
        shutil.copy(clip, folder / clip.name)
    return folder


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A root with one real class folder, a secret folder beside it, and links out of the root."""
    base = tmp_path_factory.mktemp("paths")
    root, secret, clean = base / "root", base / "secret", base / "clean"
    _class_folder(clean, "6")
    _class_folder(root / "one_class", "0")
    _class_folder(secret, "1")
    _class_folder(secret, "2")
    (root / "linked_out").symlink_to(secret)  # a link to a folder outside the root
    mixed = root / "mixed"
    _class_folder(mixed, "3")
    (mixed / "1").symlink_to(secret / "1")  # a class folder leading outside
    files = root / "file_links"
    _class_folder(files, "4")
    (files / "5").mkdir()
    for clip in (secret / "2").iterdir():
        (files / "5" / clip.name).symlink_to(clip)  # files leading outside
    return {"base": base, "root": root, "secret": secret, "clean": clean}


def test_confine_path_accepts_only_real_paths_under_a_root(layout) -> None:
    root, secret = layout["root"], layout["secret"]
    assert confine_path(str(root), [root]) == root.resolve()
    assert confine_path(str(root / "one_class"), [root]) == (root / "one_class").resolve()
    for raw in ("/", "/etc", str(secret), str(root / "linked_out"), str(root / "linked_out" / "1")):
        with pytest.raises(PermissionDenied) as info:
            confine_path(raw, [root])
        assert "TYMPAN_DATASET_ROOTS" in info.value.message and raw not in info.value.message
    for raw in (f"{root}/one_class/../one_class", f"{root}/../root", ""):
        with pytest.raises(PermissionDenied, match=r"without '\.\.'"):
            confine_path(raw, [root])
    with pytest.raises(PermissionDenied, match="disabled: set TYMPAN_DATASET_ROOTS"):
        confine_path(str(root), [])
    with pytest.raises(PermissionDenied, match="2 entries"):
        require_under([root / "mixed" / "1", root / "linked_out", root / "mixed"], [root])


@pytest.fixture(scope="module")
def rooted(layout, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    roots = f"{layout['root']},{layout['clean']}"
    settings = make_settings(tmp_path_factory.mktemp("rooted"), dataset_roots=roots)
    with Client.in_process(settings) as client:
        yield client


def _state(client: Client) -> tuple[str, list[str], list[str]]:
    services = services_of(client)
    work = services.jobs.work
    artifacts = sorted(p.name for p in services.artifacts.root.rglob("*"))
    return db_fingerprint(services.db), artifacts, sorted(p.name for p in work.glob("*"))


def _train(client: Client, path: str):  # type: ignore[no-untyped-def]
    return client._http.post("/v1/classifiers", data={"name": "probe", "path": path, "arch": "cnn"})


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc",
        "/etc/passwd",
        "{secret}",
        "{root}/linked_out",
        "{root}/linked_out/1",
        "{root}/../secret",
        "{root}/one_class/../../secret",
        "{root}/mixed",
        "{root}/file_links",
        " ",
    ],
)
def test_training_paths_outside_the_roots_get_403(rooted, layout, path) -> None:
    raw = path.format(**{key: str(value) for key, value in layout.items()})
    before = _state(rooted)
    response = _train(rooted, raw)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["type"] == "permission_error" and error["param"] == "path"
    assert "TYMPAN_DATASET_ROOTS" in error["message"]
    for leaked in ("secret", "passwd", "etc", "jackson", "flac"):
        assert leaked not in error["message"]  # no file or folder names
    assert _state(rooted) == before  # nothing written: no rows, artifacts or work folders
    assert rooted.health()["status"] == "ok"


def test_a_root_itself_and_folders_inside_are_read(rooted, layout) -> None:
    inside = (
        layout["clean"],  # a root itself
        layout["root"] / "one_class",
        layout["base"] / "root" / "." / "one_class",
    )
    for path in inside:
        before = _state(rooted)
        response = _train(rooted, str(path))
        assert response.status_code == 400, response.text  # read, and found unfit
        assert "only one class" in response.json()["error"]["message"]
        assert _state(rooted) == before


def test_without_roots_server_paths_are_refused(api, layout) -> None:
    response = _train(api, str(layout["root"] / "one_class"))
    assert response.status_code == 403
    assert "disabled: set TYMPAN_DATASET_ROOTS" in response.json()["error"]["message"]
