"""Adapting speech recognition: Whisper fine-tuned on a labelled dataset, served like the base.

``weights`` moves Whisper between CTranslate2 (serving) and ``transformers`` (training);
``dataset`` reads and splits a manifest of (audio, text[, speaker]); ``finetune`` trains
(LoRA, top layers or full) and writes both result folders.
"""
