"""Fine-tune Whisper on (audio, text) pairs: LoRA (default), top layers, or every weight.

The steps, in order: the base (a bundled CTranslate2 folder, converted, or a previous
``training_dir``) is loaded in ``transformers``; each utterance becomes faster-whisper's
log-mel window and the token sequence Whisper is trained on (``<|startoftranscript|>``,
language and task for a multilingual model, ``<|notimestamps|>``, the text, end of text);
AdamW runs over shuffled batches (augmented on request); every ``eval_every`` steps (and at
the last) a greedy decode of the validation set gives its WER, the best weights are kept, and
training stops once ``patience`` passes in a row bring no gain, so the step count follows the
data rather than a number tuned to one dataset; LoRA adapters are merged, the float weights
written as ``training_dir`` and CTranslate2 int8 as ``serving_dir``.

Everything is built in a hidden folder of ``work_dir`` and renamed into place at the end,
so a cancelled (``should_stop``) or failed run leaves nothing half-written.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from tympan.audio import decode_audio
from tympan.errors import InvalidParameter, JobCancelled
from tympan.tasks.adaptation import augment as aug
from tympan.tasks.adaptation.dataset import Utterance
from tympan.tasks.adaptation.features import log_mel
from tympan.tasks.adaptation.scoring import word_error_rate
from tympan.tasks.adaptation.weights import (
    BUILDING_MODELS,
    replace_dir,
    to_ctranslate2,
    to_transformers,
)

__all__ = [
    "DEFAULT_LEARNING_RATES",
    "FinetuneOptions",
    "FinetuneProgress",
    "FinetuneResult",
    "finetune",
]

DEFAULT_LEARNING_RATES = {"lora": 3e-4, "top_layers": 1e-5, "full": 1e-5}  # lora: bench_adapt
_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json")
_DECODE_BATCH = 16


@dataclass(frozen=True, slots=True)
class FinetuneOptions:
    """How to fine-tune: the method, where it applies, the schedule and the augmentations.

    ``layers``: ``decoder`` (decoder layers only; the encoder is frozen and, without
    waveform or log-mel augmentation, run once per clip), ``top_encoder`` (the decoder and the
    upper half of the encoder) or ``all``. ``top_layers`` trains those layers' weights
    outright (``all`` means the upper encoder half there too), ``full`` every weight.
    ``noise_dir`` is the noise folder ``augment={"noise"}`` draws from (its non-test split).
    ``adversarial_steps``: 1 is FGSM, more is PGD, each bounded by ``adversarial_epsilon``
    on the log-mel scale (about 2 units wide).

    The defaults are bench_adapt's choice on the development speakers (docs/adaptation.md):
    LoRA on the decoder and the upper encoder half, validated every ``eval_every`` steps,
    stopping after ``patience`` passes without gain or at ``max_steps`` (64 steps of tiny.en
    on 2 cores fit the 20-minute goal); ``eval_every=None`` validates once per epoch.
    """

    method: Literal["lora", "top_layers", "full"] = "lora"
    layers: Literal["decoder", "top_encoder", "all"] = "top_encoder"
    epochs: int = 3
    learning_rate: float | None = None
    batch_size: int = 8
    lora_rank: int = 16
    augment: frozenset[str] = frozenset()
    max_steps: int | None = 64
    eval_every: int | None = 8
    patience: int = 2
    seed: int = 0
    language: str = "en"
    noise_dir: Path | None = None
    adversarial_epsilon: float = 0.05
    adversarial_steps: int = 1

    def check(self) -> None:
        """``InvalidParameter`` (400) naming the first option out of range."""
        problems = {
            "method": self.method not in DEFAULT_LEARNING_RATES,
            "layers": self.layers not in ("decoder", "top_encoder", "all"),
            "epochs": self.epochs < 1,
            "learning_rate": self.learning_rate is not None and not 0 < self.learning_rate < 1,
            "batch_size": self.batch_size < 1,
            "lora_rank": self.lora_rank < 1,
            "augment": not self.augment <= aug.AUGMENTATIONS
            or ("noise" in self.augment and self.noise_dir is None),
            "max_steps": self.max_steps is not None and self.max_steps < 1,
            "eval_every": self.eval_every is not None and self.eval_every < 1,
            "patience": self.patience < 1,
            "adversarial_steps": self.adversarial_steps < 1,
        }
        for name, bad in problems.items():
            if bad:
                raise InvalidParameter(f"Fine-tuning option {name} is out of range.", param=name)

    @property
    def rate(self) -> float:
        """The learning rate in force (the method's default unless one was given)."""
        return self.learning_rate or DEFAULT_LEARNING_RATES[self.method]


@dataclass(frozen=True, slots=True)
class FinetuneProgress:
    """One step of training (``train_loss``) or one validation pass (``valid_wer``)."""

    step: int
    total_steps: int
    train_loss: float | None
    valid_wer: float | None
    message: str


@dataclass(frozen=True, slots=True)
class FinetuneResult:
    """The two folders a run writes, what it measured, and how many steps it took."""

    serving_dir: Path
    training_dir: Path
    report: dict
    steps: int


@dataclass(slots=True)
class _Example:
    """An utterance ready to train on: its samples, token sequence, and (cached) features."""

    samples: np.ndarray
    tokens: list[int]
    features: np.ndarray | None = None
    hidden: torch.Tensor | None = None  # the frozen encoder layers' output, float16


@dataclass(slots=True)
class _Curves:
    train_loss: list[float] = field(default_factory=list)
    valid_wer: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Best:
    """The validation pass with the lowest WER so far: when, and the trained weights then."""

    wer: float
    step: int
    epoch: int
    weights: dict[str, torch.Tensor]
    hypotheses: list[str]


def _validation_due(eval_every: int | None, step: int, epoch_end: bool) -> bool:
    """Whether ``step`` ends with a validation pass: every ``eval_every`` steps, else at the
    end of each epoch."""
    return epoch_end if eval_every is None else step % eval_every == 0


def _sentence_case(text: str) -> str:
    """Text in capitals only (reading prompts) in sentence case, so the model does not learn
    to shout; other text is kept as written."""
    text = " ".join(text.split())
    if any(c.isupper() for c in text) and not any(c.islower() for c in text):
        words = ["I" if w == "i" else w for w in text.lower().split()]
        text = " ".join(words)
        return text[:1].upper() + text[1:]
    return text


def _prefix(tokenizer, generation_config, language: str) -> list[int]:
    """``<|startoftranscript|>`` [``<|lang|>`` ``<|transcribe|>``] ``<|notimestamps|>``."""
    prefix = [generation_config.decoder_start_token_id]
    if generation_config.is_multilingual:
        token = f"<|{language}|>"
        if token not in generation_config.lang_to_id:
            raise InvalidParameter(
                f"The model does not know language {language!r}.", param="language"
            )
        prefix += [generation_config.lang_to_id[token], generation_config.task_to_id["transcribe"]]
    return [*prefix, generation_config.no_timestamps_token_id]


def _examples(
    utterances: list[Utterance], tokenizer, prefix: list[int], eos: int
) -> list[_Example]:
    examples = []
    for utterance in utterances:
        text_tokens = tokenizer.encode(
            " " + _sentence_case(utterance.text), add_special_tokens=False
        )
        samples = decode_audio(utterance.audio).samples
        examples.append(_Example(samples, [*prefix, *text_tokens, eos]))
    return examples


def _trainable_layers(model, options: FinetuneOptions) -> list[str]:
    """Module name prefixes of the layers the method trains."""
    encoder_layers = model.config.encoder_layers
    decoder = [f"model.decoder.layers.{i}." for i in range(model.config.decoder_layers)]
    if options.layers == "decoder":
        return decoder
    first = 0 if options.layers == "all" and options.method == "lora" else encoder_layers // 2
    return decoder + [f"model.encoder.layers.{i}." for i in range(first, encoder_layers)]


def _prepare(model, options: FinetuneOptions):
    """The model with only what ``options`` trains left trainable (LoRA wraps it in peft)."""
    layers = _trainable_layers(model, options)
    if options.method == "lora":
        from peft import LoraConfig, get_peft_model

        targets = [
            name
            for name, _ in model.named_modules()
            if name.rsplit(".", 1)[-1] in _PROJECTIONS and any(name.startswith(p) for p in layers)
        ]
        config = LoraConfig(
            r=options.lora_rank,
            lora_alpha=2 * options.lora_rank,
            lora_dropout=0.05,
            target_modules=targets,
        )
        return get_peft_model(model, config)
    for name, parameter in model.named_parameters():
        if options.method == "full":
            parameter.requires_grad_("embed_positions" not in name)
        else:
            parameter.requires_grad_(any(name.startswith(p) for p in layers))
    return model


def _whisper(model):
    """The WhisperForConditionalGeneration inside (peft wraps it, adapters in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class _Encoder:
    """Whisper's encoder run from the first layer training can change.

    The encoder always sees a 30 s window: on tiny.en, 2 cores, a batch of 8 takes 3 s forward
    and 25 s forward and backward through the whole model, against 4 s with the encoder
    frozen. What comes before the first trainable layer (convolutions, frozen layers) is the
    same at every epoch unless the input is augmented, so it is computed once per clip and
    kept (float16, 1.1 MB a clip for tiny.en).
    """

    def __init__(self, whisper, cache: bool) -> None:
        self.encoder = whisper.model.encoder
        trainable = [
            index
            for index, layer in enumerate(self.encoder.layers)
            if any(p.requires_grad for p in layer.parameters())
        ]
        stem_frozen = not any(
            p.requires_grad
            for name, p in self.encoder.named_parameters()
            if not name.startswith(("layers.", "layer_norm."))
        )
        self.first = min(trainable, default=len(self.encoder.layers))
        self.cache = cache and stem_frozen

    def _bottom(self, features: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            states = self.encoder(features, output_hidden_states=True).hidden_states
        return states[self.first]

    def __call__(self, examples: list[_Example], features: torch.Tensor | None) -> torch.Tensor:
        """Encoder output of ``examples`` (from ``features``, or from the cache when allowed)."""
        if not self.cache:
            return self.encoder(features).last_hidden_state
        missing = [e for e in examples if e.hidden is None]
        if missing:
            windows = torch.from_numpy(np.stack([log_mel(e.samples) for e in missing]))
            for example, hidden in zip(missing, self._bottom(windows), strict=True):
                example.hidden = hidden.to(torch.float16)
        hidden = torch.stack([e.hidden for e in examples]).float()
        if self.first == len(self.encoder.layers):
            return hidden  # the encoder's output, final layer norm included
        for layer in self.encoder.layers[self.first :]:
            hidden = layer(hidden, attention_mask=None)
        return self.encoder.layer_norm(hidden)


class _Trainer:
    """The training loop's state: model, optimiser, schedule, augmentations, random streams."""

    def __init__(
        self, model, options: FinetuneOptions, total_steps: int, prefix_length: int
    ) -> None:
        self.model, self.options, self.total_steps = model, options, total_steps
        self.prefix_length = prefix_length
        parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(parameters, lr=options.rate, weight_decay=0.01)
        warmup = max(1, total_steps // 10)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: min(
                (step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))
            ),
        )
        self.rng = np.random.default_rng(options.seed)
        self.generator = torch.Generator().manual_seed(options.seed)
        self.noises = (
            aug.load_training_noises(options.noise_dir)
            if "noise" in options.augment and options.noise_dir
            else []
        )
        self.waveform_augmented = bool({"noise", "speed"} & options.augment)
        self.encode = _Encoder(_whisper(model), cache=not options.augment)

    def features(self, example: _Example) -> tuple[np.ndarray, int]:
        """The example's log-mel window (recomputed when the waveform is augmented) and its
        length in frames."""
        samples = example.samples
        if self.waveform_augmented:
            if "speed" in self.options.augment and self.rng.random() < 0.5:
                samples = aug.change_speed(samples, self.rng)
            if self.noises and self.rng.random() < 0.5:
                samples = aug.with_noise(samples, self.noises, self.rng)
            return log_mel(samples), min(len(samples) // 160, 3000)
        if example.features is None:
            example.features = log_mel(samples)
        return example.features, min(len(samples) // 160, 3000)

    def step(self, batch: list[_Example]) -> float:
        """One optimiser step on ``batch``; the mean token loss before the update."""
        whisper = _whisper(self.model)
        length = max(len(e.tokens) for e in batch) - 1
        inputs = torch.full((len(batch), length), whisper.config.eos_token_id)
        labels = torch.full((len(batch), length), -100)
        for row, example in enumerate(batch):
            tokens = torch.tensor(example.tokens)
            inputs[row, : len(tokens) - 1] = tokens[:-1]
            labels[row, : len(tokens) - 1] = tokens[1:]
            labels[row, : self.prefix_length - 1] = -100  # the forced prefix is not learnt
        self.model.train()
        if self.encode.cache:
            encoded = self.encode(batch, None)
            loss = whisper(encoder_outputs=(encoded,), decoder_input_ids=inputs, labels=labels).loss
            loss.backward()
        else:
            windows = [self.features(e) for e in batch]
            features = torch.from_numpy(np.stack([w for w, _ in windows]))
            frames = torch.tensor([n for _, n in windows])
            if "specaugment" in self.options.augment:
                features = aug.spec_augment(features, frames, self.generator)

            def loss_of(x: torch.Tensor) -> torch.Tensor:
                return whisper(input_features=x, decoder_input_ids=inputs, labels=labels).loss

            loss = loss_of(features)
            if "adversarial" in self.options.augment:
                hard = aug.adversarial_features(
                    features,
                    frames,
                    loss_of,
                    self.options.adversarial_epsilon,
                    self.options.adversarial_steps,
                )
                (0.5 * loss + 0.5 * loss_of(hard)).backward()
            else:
                loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())


def _greedy_tokens(
    whisper, encoded: torch.Tensor, prefix: list[int], max_tokens: int = 128
) -> list[list[int]]:
    """Greedy decode as CTranslate2 does it (suppressed tokens, no blank or end first), with
    the key/value cache; the weights tests check both pick the same tokens."""
    config = whisper.generation_config
    batch, eos = encoded.shape[0], config.eos_token_id
    inputs = torch.tensor([prefix] * batch)
    finished = torch.zeros(batch, dtype=torch.bool)
    chosen: list[torch.Tensor] = []
    past = None
    for step in range(max_tokens):
        output = whisper(
            encoder_outputs=(encoded,),
            decoder_input_ids=inputs,
            past_key_values=past,
            use_cache=True,
        )
        logits, past = output.logits[:, -1].clone(), output.past_key_values
        logits[:, config.suppress_tokens] = -math.inf
        if step == 0:
            logits[:, config.begin_suppress_tokens] = -math.inf
        tokens = logits.argmax(dim=-1).masked_fill(finished, eos)
        chosen.append(tokens)
        finished |= tokens == eos
        if finished.all():
            break
        inputs = tokens[:, None]
    rows = torch.stack(chosen, dim=1).tolist()
    return [row[: row.index(eos)] if eos in row else row for row in rows]


def _transcribe_greedy(
    model, encode: _Encoder, tokenizer, examples: list[_Example], prefix: list[int]
) -> list[str]:
    """Greedy transcripts of ``examples`` by the model being trained (adapters active)."""
    whisper = _whisper(model)
    whisper.eval()
    texts = []
    for start in range(0, len(examples), _DECODE_BATCH):
        chunk = examples[start : start + _DECODE_BATCH]
        with torch.inference_mode():
            features = (
                None
                if encode.cache
                else torch.from_numpy(np.stack([log_mel(e.samples) for e in chunk]))
            )
            tokens = _greedy_tokens(whisper, encode(chunk, features), prefix)
        texts += [text.strip() for text in tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    return texts


def _source_folder(base: Path, staging: Path) -> Path:
    """``base`` in the transformers layout: as is for a ``training_dir``, else converted."""
    if (base / "config.json").is_file() and (base / "model.safetensors").is_file():
        return base
    return to_transformers(base, staging / "source")


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def finetune(
    base: Path,
    train: list[Utterance],
    validation: list[Utterance],
    options: FinetuneOptions,
    work_dir: Path,
    progress: Callable[[FinetuneProgress], None] = lambda p: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> FinetuneResult:
    """Fine-tune ``base`` (a CTranslate2 Whisper folder, or a previous ``training_dir``) and
    write ``work_dir/training`` and ``work_dir/serving``. ``JobCancelled`` when
    ``should_stop()`` turns true between steps; nothing is left half-written either way."""
    from transformers import AutoTokenizer, WhisperForConditionalGeneration

    options.check()
    if not train or not validation:
        raise InvalidParameter("Fine-tuning needs training and validation utterances.")
    torch.manual_seed(options.seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".finetune-", dir=work_dir))
    started = time.monotonic()
    try:
        source = _source_folder(base, staging)
        tokenizer = AutoTokenizer.from_pretrained(source)
        with BUILDING_MODELS:
            whisper = WhisperForConditionalGeneration.from_pretrained(
                source, torch_dtype=torch.float32
            )
        config = whisper.generation_config
        prefix = _prefix(tokenizer, config, options.language)
        train_examples = _examples(train, tokenizer, prefix, config.eos_token_id)
        valid_examples = _examples(validation, tokenizer, prefix, config.eos_token_id)
        references = [u.text for u in validation]
        model = _prepare(whisper, options)
        steps_per_epoch = math.ceil(len(train_examples) / options.batch_size)
        total = min(options.epochs * steps_per_epoch, options.max_steps or 10**9)
        trainer = _Trainer(model, options, total, len(prefix))

        def validate(step: int, label: str) -> tuple[float, list[str]]:
            hypotheses = _transcribe_greedy(
                model, trainer.encode, tokenizer, valid_examples, prefix
            )
            wer = word_error_rate(references, hypotheses)
            progress(FinetuneProgress(step, total, None, wer, f"{label}: validation WER {wer:.1%}"))
            return wer, hypotheses

        base_wer, base_hypotheses = validate(0, "Base model")
        curves, best = _Curves(), _Best(math.inf, 0, 0, {}, base_hypotheses)
        step, epoch, passes_without_gain = 0, 0, 0
        while step < total and passes_without_gain < options.patience:
            epoch += 1
            order = np.random.default_rng(options.seed + epoch).permutation(len(train_examples))
            for start in range(0, len(order), options.batch_size):
                if should_stop():
                    raise JobCancelled("Fine-tuning was cancelled; no model was written.")
                loss = trainer.step(
                    [train_examples[i] for i in order[start : start + options.batch_size]]
                )
                step += 1
                curves.train_loss.append(loss)
                progress(
                    FinetuneProgress(
                        step, total, loss, None, f"Step {step}/{total}: loss {loss:.3f}"
                    )
                )
                epoch_end = start + options.batch_size >= len(order)
                if step == total or _validation_due(options.eval_every, step, epoch_end):
                    wer, hypotheses = validate(step, f"Step {step} (epoch {epoch})")
                    curves.valid_wer.append(wer)
                    if wer < best.wer:
                        best = _Best(wer, step, epoch, _snapshot(model), hypotheses)
                        passes_without_gain = 0
                    else:
                        passes_without_gain += 1
                if step >= total or passes_without_gain >= options.patience:
                    break
        if should_stop():
            raise JobCancelled("Fine-tuning was cancelled; no model was written.")
        model.load_state_dict(best.weights, strict=False)
        merged = model.merge_and_unload() if options.method == "lora" else model
        training_dir = staging / "training"
        merged.save_pretrained(training_dir)
        for name in _TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, training_dir / name)
        to_ctranslate2(training_dir, staging / "serving", quantization="int8")
        report = {
            "method": options.method,
            "layers": options.layers,
            "augment": sorted(options.augment),
            "learning_rate": options.rate,
            "eval_every": options.eval_every,
            "epochs_run": epoch,
            "best_epoch": best.epoch,
            "best_step": best.step,
            "steps": step,
            "train_utterances": len(train),
            "validation_utterances": len(validation),
            "base_valid_wer": base_wer,
            "valid_wer": best.wer,
            "training_seconds": round(time.monotonic() - started, 1),
            "trained_by": f"{socket.gethostname()}:{os.getpid()}",  # this process or a Ray task's
            "curves": {"train_loss": curves.train_loss, "valid_wer": curves.valid_wer},
            "utterances": [
                {"audio": str(u.audio), "reference": u.text, "before": b, "after": a}
                for u, b, a in zip(validation, base_hypotheses, best.hypotheses, strict=True)
            ],
        }
        serving, training = work_dir / "serving", work_dir / "training"
        replace_dir(staging / "training", training)
        replace_dir(staging / "serving", serving)
        return FinetuneResult(serving, training, report, step)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
