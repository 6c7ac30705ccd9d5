"""Whisper weights between CTranslate2 (what serves) and ``transformers`` (what trains).

Fine-tuning needs PyTorch weights and nothing may be downloaded, so the bundled CTranslate2
folders are the only source. ``to_transformers`` reads ``model.bin`` and writes a
``WhisperForConditionalGeneration`` folder (float32 safetensors, config, generation config and
tokenizer, all loadable offline); ``to_ctranslate2`` goes back with CTranslate2's own
``TransformersConverter``, so serving never depends on a hand-written writer.

CTranslate2's Python package can write ``model.bin`` (``ModelSpec._serialize``) but has no
reader, hence ``read_model_bin``: the layout it inverts is the few lines of ``_serialize`` in
``python/ctranslate2/specs/model_spec.py`` (binary version 6). The tensor names follow
``WhisperLoader`` in ``python/ctranslate2/converters/transformers.py``: attention projections
are fused there (self-attention q|k|v, cross-attention k|v) and split again here.

``transformers_encoder`` builds just the encoder in memory, for reading its middle layers
(classifier features), which CTranslate2's ``encode`` does not return.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tympan.errors import TympanError

if TYPE_CHECKING:
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

__all__ = [
    "read_model_bin",
    "replace_dir",
    "to_ctranslate2",
    "to_transformers",
    "transformers_encoder",
]

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_BINARY_VERSION = 6
_SIDE_FILES = ("tokenizer.json", "preprocessor_config.json")

BUILDING_MODELS = threading.Lock()
"""Held while ``transformers`` builds or loads a model in this process (``from_pretrained``,
a model class, CTranslate2's converter). It builds under process-wide patches that it undoes
afterwards (``PreTrainedModel.tie_weights`` replaced by a no-op, the default dtype and device
switched), so two builds at once can leave a patch in place for good. Seen in a full test run:
``proj_out`` was never tied again, and every later fine-tune failed on meta tensors."""


def read_model_bin(path: Path) -> dict[str, np.ndarray]:
    """Every named tensor of a CTranslate2 ``model.bin`` (aliases resolved), as numpy arrays."""
    data = memoryview(path.read_bytes())
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        length = take("H")  # counts the trailing NUL
        text = bytes(data[offset : offset + length - 1]).decode()
        offset += length
        return text

    version = take("I")
    if version != _BINARY_VERSION:
        raise TympanError(f"{path}: CTranslate2 binary version {version}, expected 6.")
    string()  # spec name
    take("I")  # spec revision
    tensors: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype = _DTYPES.get(take("B"))
        size = take("I")
        if dtype is None:
            raise TympanError(f"{path}: tensor {name} has a type this reader does not know.")
        tensors[name] = np.frombuffer(data[offset : offset + size], dtype=dtype).reshape(shape)
        offset += size
    for _ in range(take("I")):
        alias, target = string(), string()
        tensors[alias] = tensors[target]
    return tensors


def _linear(out: dict[str, np.ndarray], prefix: str, weight: np.ndarray, bias: np.ndarray | None):
    out[f"{prefix}.weight"] = weight
    if bias is not None:
        out[f"{prefix}.bias"] = bias


def _split_attention(
    out: dict[str, np.ndarray], ct2: dict[str, np.ndarray], source: str, target: str, cross: bool
) -> None:
    """q/k/v/out projections from CTranslate2's fused linears (k has no bias in Whisper)."""
    if cross:
        q_w, q_b = ct2[f"{source}/linear_0/weight"], ct2[f"{source}/linear_0/bias"]
        k_w, v_w = np.split(ct2[f"{source}/linear_1/weight"], 2)
        k_b, v_b = np.split(ct2[f"{source}/linear_1/bias"], 2)
        out_name = "linear_2"
    else:
        q_w, k_w, v_w = np.split(ct2[f"{source}/linear_0/weight"], 3)
        q_b, k_b, v_b = np.split(ct2[f"{source}/linear_0/bias"], 3)
        out_name = "linear_1"
    if np.any(k_b):
        raise TympanError(f"{source}: a non-zero key bias cannot be a Whisper model.")
    _linear(out, f"{target}.q_proj", q_w, q_b)
    _linear(out, f"{target}.k_proj", k_w, None)
    _linear(out, f"{target}.v_proj", v_w, v_b)
    _linear(
        out,
        f"{target}.out_proj",
        ct2[f"{source}/{out_name}/weight"],
        ct2[f"{source}/{out_name}/bias"],
    )


def _norm(out: dict[str, np.ndarray], ct2: dict[str, np.ndarray], source: str, target: str) -> None:
    out[f"{target}.weight"] = ct2[f"{source}/gamma"]
    out[f"{target}.bias"] = ct2[f"{source}/beta"]


def _layer_count(ct2: dict[str, np.ndarray], stack: str) -> int:
    parts = (name.split("/") for name in ct2)
    return len({p[1] for p in parts if p[0] == stack and p[1].removeprefix("layer_").isdigit()})


def _state_dict(ct2: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``WhisperForConditionalGeneration`` state dict (float32) named after ``ct2``."""
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        _linear(
            out, f"model.encoder.{conv}", ct2[f"encoder/{conv}/weight"], ct2[f"encoder/{conv}/bias"]
        )
    out["model.encoder.embed_positions.weight"] = ct2["encoder/position_encodings/encodings"]
    out["model.decoder.embed_positions.weight"] = ct2["decoder/position_encodings/encodings"]
    out["model.decoder.embed_tokens.weight"] = ct2["decoder/embeddings/weight"]
    for stack in ("encoder", "decoder"):
        _norm(out, ct2, f"{stack}/layer_norm", f"model.{stack}.layer_norm")
        for index in range(_layer_count(ct2, stack)):
            source, target = f"{stack}/layer_{index}", f"model.{stack}.layers.{index}"
            _split_attention(out, ct2, f"{source}/self_attention", f"{target}.self_attn", False)
            _norm(out, ct2, f"{source}/self_attention/layer_norm", f"{target}.self_attn_layer_norm")
            if stack == "decoder":
                _split_attention(out, ct2, f"{source}/attention", f"{target}.encoder_attn", True)
                _norm(
                    out, ct2, f"{source}/attention/layer_norm", f"{target}.encoder_attn_layer_norm"
                )
            for linear, name in (("linear_0", "fc1"), ("linear_1", "fc2")):
                weight, bias = (
                    ct2[f"{source}/ffn/{linear}/weight"],
                    ct2[f"{source}/ffn/{linear}/bias"],
                )
                _linear(out, f"{target}.{name}", weight, bias)
            _norm(out, ct2, f"{source}/ffn/layer_norm", f"{target}.final_layer_norm")
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in out.items()}


def _whisper_config(ct2: dict[str, np.ndarray], side: dict, token_id) -> dict:
    d_model = int(ct2["decoder/embeddings/weight"].shape[1])
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": int(ct2["decoder/embeddings/weight"].shape[0]),
        "num_mel_bins": int(ct2["encoder/conv1/weight"].shape[1]),
        "d_model": d_model,
        "encoder_layers": _layer_count(ct2, "encoder"),
        "decoder_layers": _layer_count(ct2, "decoder"),
        "encoder_attention_heads": int(ct2["encoder/num_heads"]),
        "decoder_attention_heads": int(ct2["decoder/num_heads"]),
        "encoder_ffn_dim": int(ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(ct2["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "max_source_positions": int(ct2["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(ct2["decoder/position_encodings/encodings"].shape[0]),
        "activation_function": "gelu",
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "pad_token_id": token_id("<|endoftext|>"),
        "bos_token_id": token_id("<|endoftext|>"),
        "eos_token_id": token_id("<|endoftext|>"),
        "decoder_start_token_id": token_id("<|startoftranscript|>"),
        "suppress_tokens": side["suppress_ids"],
        "begin_suppress_tokens": side["suppress_ids_begin"],
        "torch_dtype": "float32",
    }


def _generation_config(config: dict, side: dict, vocabulary: list[str], token_id) -> dict:
    multilingual = config["vocab_size"] >= 51865
    generation = {
        "alignment_heads": side["alignment_heads"],
        "suppress_tokens": side["suppress_ids"],
        "begin_suppress_tokens": side["suppress_ids_begin"],
        "bos_token_id": config["bos_token_id"],
        "eos_token_id": config["eos_token_id"],
        "pad_token_id": config["pad_token_id"],
        "decoder_start_token_id": config["decoder_start_token_id"],
        "no_timestamps_token_id": token_id("<|notimestamps|>"),
        "prev_sot_token_id": token_id("<|startofprev|>"),
        "max_initial_timestamp_index": 50,
        "max_length": config["max_target_positions"],
        "is_multilingual": multilingual,
        "return_timestamps": False,
        # CTranslate2's converter takes lang_ids back from these values (sorted).
        "lang_to_id": {vocabulary[index]: index for index in side["lang_ids"]},
    }
    if multilingual:
        generation["task_to_id"] = {
            "transcribe": token_id("<|transcribe|>"),
            "translate": token_id("<|translate|>"),
        }
    return generation


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def _read_folder(source: Path) -> tuple[dict[str, np.ndarray], dict, list[str], dict, Callable]:
    """(tensors, CTranslate2's side config, vocabulary, ``transformers`` config, token -> id)
    of the CTranslate2 Whisper folder ``source``."""
    ct2 = read_model_bin(source / "model.bin")
    side = json.loads((source / "config.json").read_text())
    vocabulary = (source / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    token_id = {token: position for position, token in enumerate(vocabulary)}.__getitem__
    return ct2, side, vocabulary, _whisper_config(ct2, side, token_id), token_id


def transformers_encoder(source: Path) -> WhisperEncoder:
    """The encoder of the CTranslate2 Whisper folder ``source`` as a float32, eval-mode
    ``transformers`` ``WhisperEncoder`` (nothing written to disk)."""
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    ct2, _, _, config, _ = _read_folder(source)
    prefix = "model.encoder."
    state = {
        name.removeprefix(prefix): torch.from_numpy(value)
        for name, value in _state_dict(ct2).items()
        if name.startswith(prefix)
    }
    with BUILDING_MODELS:
        encoder = WhisperEncoder(WhisperConfig(**config)).eval()
        encoder.load_state_dict(state, strict=True)
    return encoder


def to_transformers(source: Path, target: Path) -> Path:
    """Write the CTranslate2 Whisper folder ``source`` as a ``transformers`` folder ``target``.

    Weights become float32 (training needs them); everything a later ``from_pretrained`` or
    ``to_ctranslate2`` reads is written, and the folder appears only once complete.
    """
    from safetensors.numpy import save_file
    from transformers import WhisperFeatureExtractor

    ct2, side, vocabulary, config, token_id = _read_folder(source)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(_state_dict(ct2), str(staging / "model.safetensors"), metadata={"format": "pt"})
        _write_json(staging / "config.json", config)
        _write_json(
            staging / "generation_config.json",
            _generation_config(config, side, vocabulary, token_id),
        )
        shutil.copyfile(source / "tokenizer.json", staging / "tokenizer.json")
        special = "<|endoftext|>"
        _write_json(
            staging / "tokenizer_config.json",
            {
                "tokenizer_class": "WhisperTokenizer",
                "bos_token": special,
                "eos_token": special,
                "unk_token": special,
                "pad_token": special,
                "model_max_length": config["max_target_positions"],
            },
        )
        WhisperFeatureExtractor(feature_size=config["num_mel_bins"]).save_pretrained(staging)
        replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def to_ctranslate2(source: Path, target: Path, quantization: str = "int8") -> Path:
    """Convert the ``transformers`` Whisper folder ``source`` with CTranslate2's own converter.

    ``quantization`` is ``int8`` (what Tympan serves) or ``float16`` (the bundled models' type).
    The result is a folder faster-whisper loads as is (tokenizer and feature settings copied).
    """
    from ctranslate2.converters import TransformersConverter

    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        output = staging / "model"
        files = [name for name in _SIDE_FILES if (source / name).is_file()]
        with BUILDING_MODELS:  # the converter loads the model with ``from_pretrained``
            TransformersConverter(str(source), copy_files=files).convert(
                str(output), quantization=quantization
            )
        replace_dir(output, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def replace_dir(staging: Path, target: Path) -> None:
    """Move a finished folder into place; an existing ``target`` is replaced only after."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
