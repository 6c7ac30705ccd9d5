"""``/v1/models/{model}/glossary``: stored names every request with the model favours.

Its own server on loopback (a stored glossary changes what tiny.en answers for everyone in the
namespace) with two API keys in two namespaces; a real LJSpeech clip whose printer's name
tiny.en mishears ("Schoeffer" as "chauffeur") unless the glossary names him.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import EVAL_DIR, make_settings
from tests.hostile import db_fingerprint
from tests.live_server import serve_in_thread
from tympan.client import Client
from tympan.errors import BudgetExceeded, InvalidParameter, ModelNotFound, ResourceNotFound
from tympan.store.db import Database

CLIP = EVAL_DIR / "asr_ljspeech" / "LJ001-0027.flac"  # "... not only by Schoeffer,"
MODEL = "whisper-tiny.en"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    settings = make_settings(
        tmp_path_factory.mktemp("glossary"), api_keys="a-key:admin@teamA,b-key:admin@teamB"
    )
    with serve_in_thread(settings) as url:
        db = Database(settings.resolved_database_url)
        yield url, db
        db.close()


@pytest.fixture(scope="module")
def teams(server) -> Iterator[tuple[Client, Client]]:
    url, _ = server
    with Client(url, "a-key") as team_a, Client(url, "b-key") as team_b:
        yield team_a, team_b


def test_a_stored_glossary_steers_every_transcription_of_its_namespace(teams) -> None:
    team_a, team_b = teams
    before = team_a.transcribe(CLIP, model=MODEL).text
    assert "Schoeffer" not in before  # the premise: tiny.en mishears the name
    stored = team_a.set_glossary("tiny.en", [" Schoeffer ", "Gutenberg", "Schoeffer"])
    assert stored == ["Schoeffer", "Gutenberg"]  # stripped, repeats dropped
    assert team_a.glossary(MODEL) == stored  # stored under the model the alias names
    assert "Schoeffer" in team_a.transcribe(CLIP, model=MODEL).text
    # a request's own hotwords come first and the glossary still applies
    assert "Schoeffer" in team_a.transcribe(CLIP, model=MODEL, hotwords="Maintz").text
    assert team_b.glossary(MODEL) == []  # another namespace has its own
    assert team_b.transcribe(CLIP, model=MODEL).text == before
    team_a.delete_glossary(MODEL)
    assert team_a.transcribe(CLIP, model=MODEL).text == before
    with pytest.raises(ResourceNotFound, match="no glossary"):
        team_a.delete_glossary(MODEL)


@pytest.mark.parametrize(
    ("model", "words", "error", "says"),
    [
        ("no-such-model", ["x"], ModelNotFound, "no-such-model"),
        ("silero-vad", ["x"], ModelNotFound, "asr model"),
        (MODEL, ["ok", "  "], InvalidParameter, "empty"),
        (MODEL, ["x" * 101], InvalidParameter, "over 100 characters"),
        (MODEL, [f"name{n}" for n in range(201)], BudgetExceeded, "TYMPAN_MAX_GLOSSARY_WORDS"),
    ],
)
def test_bad_glossaries_are_refused_and_change_nothing(
    server, teams, model, words, error, says
) -> None:
    _, db = server
    team_a, _ = teams
    before = db_fingerprint(db)
    with pytest.raises(error, match=says) as caught:
        team_a.set_glossary(model, words)
    assert caught.value.param in ("model", "words")
    assert db_fingerprint(db) == before
    assert team_a.glossary(MODEL) == []


def test_a_body_that_is_not_a_word_list_is_a_400(teams) -> None:
    team_a, _ = teams
    response = team_a._http.put(f"/v1/models/{MODEL}/glossary", json={"words": "Schoeffer"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "words"
