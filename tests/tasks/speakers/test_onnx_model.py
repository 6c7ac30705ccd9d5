"""ONNX speaker models registered from a local path by configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.speaker_data import utterances
from tympan.client import Client
from tympan.errors import InvalidParameter
from tympan.tasks.speakers import Ge2eEncoder, OnnxDVector, OnnxSpeakerModel, model_specs
from tympan.tasks.speakers.dvector_onnx import voicefilter_embedder_path
from tympan.tasks.speakers.onnx_model import load_onnx_speaker_model


@pytest.fixture(scope="module")
def ge2e_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Resemblyzer's GE2E network exported to ONNX: a real speaker model taking filterbanks."""
    import torch

    encoder = Ge2eEncoder()

    class Network(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.linear = encoder.lstm, encoder.linear

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(features)
            return torch.relu(self.linear(hidden[-1]))

    path = tmp_path_factory.mktemp("onnx") / "ge2e.onnx"
    torch.onnx.export(
        Network(),
        (torch.zeros(1, 160, 40),),
        str(path),
        input_names=["features"],
        output_names=["embedding"],
        dynamic_axes={"features": {1: "frames"}},
        dynamo=False,
    )
    return path


def test_loader_picks_the_recipe(ge2e_onnx: Path) -> None:
    generic = load_onnx_speaker_model(ge2e_onnx)
    assert isinstance(generic, OnnxSpeakerModel) and (generic.rank, generic.bands) == (3, 40)
    assert generic.dim == 256
    assert isinstance(load_onnx_speaker_model(voicefilter_embedder_path()), OnnxDVector)


def test_configured_models_are_served(ge2e_onnx: Path, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        speaker_onnx_models=f"{ge2e_onnx},{voicefilter_embedder_path()}",
        default_speaker_model="onnx-ge2e",
    )
    clip = utterances()["2609"][0]
    with Client.in_process(settings) as client:
        listed = [m["id"] for m in client.models(task="speaker")]
        assert listed[0] == "onnx-ge2e" and "onnx-embedder.int8" in listed
        default = client.speaker_embedding(clip)
        assert default.model == "onnx-ge2e" and default.dim == 256
        assert abs(np.linalg.norm(default.embedding) - 1.0) < 1e-4
        same_file = client.speaker_embedding(clip, model="onnx-embedder.int8").embedding
        bundled = client.speaker_embedding(clip, model="voicefilter-dvector").embedding
        assert float(np.dot(same_file, bundled)) > 0.9999
        enrolled = client.enroll_speaker("Onnx Person", clip)
        assert enrolled.model == "onnx-ge2e"


def test_unknown_default_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter):
        model_specs(make_settings(tmp_path, default_speaker_model="nope"))
