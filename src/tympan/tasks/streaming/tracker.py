"""``TurnTracker``: one live stream's audio made into turns, decoded as they go.

    audio (16 kHz) -> Silero on the new 32 ms frames only (state kept)
        -> TurnDetector (server VAD) -> speech_started / speech_stopped / timeout
        -> semantic_vad: at a pause the text decoded ahead is judged (endings.py); a turn
           that sounds finished ends after the eagerness' short silence, others at its longest
        -> open turn: finished pieces (the speech before a gap, once it is long enough, or
           before a place between words a preview found, in a long stretch with no gap)
           decoded while the turn goes on; a greedy preview of the rest every
           ``realtime_partial_interval_ms`` (longer under load: a budget all sessions share)
           -> deltas
        -> committed turn: only its last piece left to decode (chunks planned on its frame
           probabilities) -> the model's ASR BatchQueue (shared with file requests)
           -> completed (the pieces' text joined), with the speaker's name

Each decode is prompted with the text before it (earlier pieces and turns), so a turn cut
into pieces reads as a file's windows do. Partial decodes are previews: one at a time per
turn, of the audio not decoded yet, started only while the model is idle, and queued behind
every final, so they rarely delay a final text (at most by one preview already running).
Finished turns are reported in the order they were committed. ``LiveSession`` owns the
client's side (commands, limits, the event stream) and calls the tracker from its one worker,
so the tracker's state is only ever touched in order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial

import numpy as np

from tympan.config import SAMPLE_RATE
from tympan.errors import BadRequest, TympanError
from tympan.tasks.asr import MAX_CHUNK_SECONDS
from tympan.tasks.streaming.decoding import TurnDecoder, with_context
from tympan.tasks.streaming.endings import sounds_finished
from tympan.tasks.streaming.engine import LiveEngine
from tympan.tasks.streaming.events import (
    Cleared,
    Committed,
    LiveEvent,
    SpeechStarted,
    SpeechStopped,
    TimeoutTriggered,
    TranscriptDelta,
    TranscriptFailed,
)
from tympan.tasks.streaming.held import HeldAudio
from tympan.tasks.streaming.noise import LiveNoiseReduction
from tympan.tasks.streaming.options import LiveOptions
from tympan.tasks.streaming.pieces import (
    CommittedTurn,
    OpenTurn,
    Piece,
    PieceText,
    between_words,
    context_after,
    context_now,
    retrieved,
)
from tympan.tasks.streaming.turns import TurnBoundary, TurnDetector
from tympan.tasks.vad import SileroState
from tympan.tasks.vad.segments import FRAME_SAMPLES

__all__ = ["TurnTracker", "new_item_id", "turn_detector"]

log = logging.getLogger(__name__)

_MIN_COMMIT_SECONDS = 0.1  # OpenAI refuses to commit less
_END_PAD_SECONDS = 0.3  # audio kept after a turn's last speech frame (Whisper's lead-out)
_MIN_PARTIAL_SECONDS = 1.0  # a first decode of less holds a word or two
_MIN_PIECE_SECONDS = 3.0  # speech before a gap kept as a finished piece of the open turn
_GAP_SECONDS = 0.15  # a silence that ends a piece (shorter than a pause: between phrases)
_LONG_PIECE_SECONDS = 5.0  # speech after which a gap between words ends a piece
_WORD_GAP_SECONDS = 0.09  # a silence between words (after the last one: it was not cut off)
_DECODE_AHEAD_SECONDS = 0.15  # what a short window's decode ahead of a turn's end takes
_CUT_MARGIN_SECONDS = 0.08  # how far a word's aligned end or start may be off (0.05 s seen)
_QUIET_WINDOW = SAMPLE_RATE // 50  # 20 ms
_UNSETTLED_SECONDS = 1.0  # a preview's last words, which more audio may still change


def _frames(seconds: float) -> int:
    """Whole 32 ms frames that hold ``seconds``."""
    return math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES)


async def _text_of(decoding: asyncio.Future[PieceText]) -> str:
    return (await decoding)[0]


def _quietest(samples: np.ndarray) -> int:
    """The middle of the quietest 20 ms of ``samples`` (10 ms steps): between two words, if
    there is a silence at all. Silero's frames are too coarse and, on speech running from one
    voice into another, sure of speech throughout (0.99-1.0 between every word of the
    sample's telephone turns)."""
    step = _QUIET_WINDOW // 2
    windows = np.lib.stride_tricks.sliding_window_view(samples, _QUIET_WINDOW)[::step]
    return int(np.argmin(np.square(windows).mean(axis=1))) * step + step


def new_item_id() -> str:
    """An id in OpenAI's style for a conversation item (one turn)."""
    return "item_" + uuid.uuid4().hex[:20]


def turn_detector(options: LiveOptions) -> TurnDetector | None:
    """The session's turn detector (None: manual commits), with the pause where the open turn
    is decoded ahead. With server VAD that is once the lead-out is in (0.3 s), or sooner for a
    shorter silence, so that the decode is done when the turn ends: with 200 ms, end of speech
    -> ``completed`` went from 0.75 to 0.39 s p50 on the benchmark's clips, as the decode no
    longer started at the end. Never before a gap between phrases (0.15 s). With
    ``semantic_vad``, by its short silence, since the judge reads that decode.

    Pieces end at gaps between phrases, or, once a turn has gone on 5 s since its start or
    its last gap, between words (0.09 s), so that a long turn does not leave many seconds to
    decode at its end: with OpenAI's 500 ms silence, end of speech -> ``completed`` p95 went
    from 0.93 to 0.79-0.83 s in three runs on the benchmark's clips, the same text. (Speech
    with no gap at all, as the sample's 8-10 s telephone turns, is cut where a preview heard
    one word end: ``TurnTracker._cut_between_words``.)"""
    detection = options.turn_detection
    if detection is None:
        return None
    gap = _frames(_GAP_SECONDS)
    detector = TurnDetector(
        detection,
        MAX_CHUNK_SECONDS,
        gap_frames=gap,
        word_gap_frames=_frames(_WORD_GAP_SECONDS),
        long_piece_frames=_frames(_LONG_PIECE_SECONDS),
    )
    pause = _frames(_END_PAD_SECONDS)
    if detection.semantic:
        pause = min(pause, _frames(detection.finished_silence_ms / 1000))
    else:  # the silence as the detector counts it, less the decode's time
        ahead = detector.silence_frames - _frames(_DECODE_AHEAD_SECONDS)
        pause = min(pause, max(gap, ahead))
    detector.pause_frames = pause
    return detector


class TurnTracker:
    """Turns of one stream: feed it audio and commands in order; it emits the turn events."""

    def __init__(
        self,
        engine: LiveEngine,
        options: LiveOptions,
        decoder: TurnDecoder,
        noise: LiveNoiseReduction,
        emit: Callable[[LiveEvent], None],
        judge: Callable[[], None],
    ) -> None:
        """``emit`` sends an event to the client; ``judge`` asks the session's worker to call
        ``end_if_finished`` (a decode ahead finished between two chunks of audio)."""
        self.engine = engine
        self.options = options
        self.held = HeldAudio()
        self.queued = 0  # samples appended but not yet scored
        self.in_flight = 0  # samples committed but not yet transcribed
        self._decoder = decoder
        self._noise = noise
        self._emit = emit
        self._judge = judge
        self._detector = turn_detector(options)
        self._vad_state = SileroState.initial()
        self._floor = 0  # audio before this sample is committed or cleared
        self._turn: OpenTurn | None = None
        self._context: asyncio.Future[PieceText] | None = None  # the last decode kept
        self._previous_item: str | None = None
        self._last_report: asyncio.Task[None] | None = None
        self._reports: set[asyncio.Task[None]] = set()

    @property
    def pending_samples(self) -> int:
        """Audio sent and not transcribed yet: queued, held, and committed in flight."""
        return self.queued + self.in_flight + self.held.samples.shape[0]

    def use(self, options: LiveOptions) -> None:
        """Go on with new options (a new turn detector when its settings changed)."""
        if options.turn_detection != self.options.turn_detection:
            self._detector = turn_detector(options)
        self.options = options

    async def drain(self) -> None:
        """Wait until every committed turn has been reported."""
        while self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)

    def stop(self) -> list[asyncio.Task[None]]:
        """Drop the open turn; the tasks still running (reports, a preview) to cancel."""
        tasks = [*self._reports]
        if self._turn is not None:
            self._turn.drop()
            if self._turn.partial_task is not None:
                tasks.append(self._turn.partial_task)
        return tasks

    @property
    def _received(self) -> int:
        return self.held.received

    async def on_audio(self, samples: np.ndarray) -> None:
        """Score appended 16 kHz ``samples`` (noise reduced first, if asked) and act on the
        turn boundaries they bring; preview the open turn when it is due."""
        self.queued -= samples.shape[0]
        samples = await self._noise.apply(samples)
        first_frame, frames = self.held.add(samples)
        probabilities, self._vad_state = await self.engine.score_frames(frames, self._vad_state)
        self.held.scored(probabilities)
        if self._detector is None:
            return
        for boundary in self._detector.push(probabilities, first_frame):
            self._on_boundary(boundary)
        self.end_if_finished()
        if self._turn is None:
            keep = self._received - round(self._padding_seconds * SAMPLE_RATE) - FRAME_SAMPLES
            self.held.trim(max(self._floor, keep))
        else:
            self._cut_between_words(self._turn)
            at_pause = self._detector.silent_frames >= _frames(_WORD_GAP_SECONDS)
            self._maybe_partial(self._turn, at_pause)

    @property
    def _padding_seconds(self) -> float:
        detection = self.options.turn_detection
        return 0.0 if detection is None else detection.prefix_padding_ms / 1000

    def _on_boundary(self, boundary: TurnBoundary) -> None:
        at = boundary.frame * FRAME_SAMPLES
        if boundary.kind == "start":
            padding = 0 if boundary.forced else round(self._padding_seconds * SAMPLE_RATE)
            start = max(self._floor, self.held.start, at - padding)
            turn = OpenTurn(new_item_id(), start, self._context, partial_at=start)
            self._turn = turn
            self._emit(SpeechStarted(turn.item_id, turn.start / SAMPLE_RATE))
        elif boundary.kind == "pause" and self._turn is not None:
            self._decode_ahead(self._turn, at)
        elif boundary.kind == "resume" and self._turn is not None:
            assert boundary.silence_from is not None
            self._keep_piece(self._turn, boundary.silence_from * FRAME_SAMPLES, at)
        elif boundary.kind == "end" and self._turn is not None:
            turn, self._turn = self._turn, None
            self._emit(SpeechStopped(turn.item_id, at / SAMPLE_RATE))
            end = at if boundary.forced else self._vad_end(at)
            if not boundary.forced and turn.ahead is not None and turn.ahead.resume == at:
                end = turn.ahead.end  # decoded ahead at this turn's last pause
            self._commit(turn, end, from_vad=True)
        elif boundary.kind == "timeout":
            turn = OpenTurn(new_item_id(), max(self._floor, self.held.start), self._context)
            self._emit(TimeoutTriggered(turn.item_id, turn.start / SAMPLE_RATE, at / SAMPLE_RATE))
            self._commit(turn, at, from_vad=False)

    def _vad_end(self, speech_end: int) -> int:
        """Where a turn that server VAD ends after ``speech_end`` stops: Whisper's lead-out."""
        return min(speech_end + round(_END_PAD_SECONDS * SAMPLE_RATE), self._received)

    def _decode_ahead(self, open_turn: OpenTurn, speech_end: int) -> None:
        """Start decoding the open turn's audio since its last piece as if the turn ended at a
        pause (``speech_end``): if the silence lasts, the commit takes this decode and
        ``completed`` follows the end of speech by the silence alone, not silence + decode;
        if speech comes back, a long enough stretch is kept as a finished piece. A shorter
        one is only a guess, made when no final decode waits (it must not delay them), but
        always with ``semantic_vad``, whose judge reads it.

        With server VAD the encoder reads the piece's own length, not a 30 s window (a 1.4 s
        piece of tiny.en decodes in 0.37 s on 2 cores, 0.23 s of it the 30 s encoder pass,
        which takes 0.01 s on 3 s), so the decode is done when the silence ends the turn, for
        about a word in 300 more (docs/realtime.md). The judge of ``semantic_vad`` reads
        whole windows: on the piece's own length Whisper ends more sentences cut short with a
        full stop, and the judge would end those turns."""
        open_turn.drop_ahead()
        end = self._vad_end(speech_end)
        short = end - open_turn.cut < _MIN_PIECE_SECONDS * SAMPLE_RATE
        if short and self._decoder.finals_waiting and not self._semantic:
            return
        open_turn.ahead = self._start_piece(
            open_turn, end, speech_end, from_vad=True, short_window=not self._semantic
        )
        open_turn.label_ahead = self._start_label(open_turn, end)
        if self._semantic:  # the judge reads the text as soon as it is there
            open_turn.ahead.decoding.add_done_callback(lambda _: self._judge())

    @property
    def _semantic(self) -> bool:
        detection = self.options.turn_detection
        return detection is not None and detection.semantic

    def end_if_finished(self) -> None:
        """``semantic_vad``: end the open turn at its pause when the text decoded there
        sounds finished and the silence has lasted the eagerness' short wait; otherwise
        server VAD ends it after the longest (or speech comes back and it goes on), and the
        words decoded ahead go out as a delta meanwhile (no preview runs at a pause)."""
        turn = self._turn
        detection = self.options.turn_detection
        if turn is None or turn.ahead is None or detection is None or not detection.semantic:
            return
        ahead = turn.ahead
        silence = self._received - ahead.resume
        if silence < detection.finished_silence_ms * SAMPLE_RATE / 1000:
            return
        heard = context_now(ahead.decoding)  # the session's text up to the pause
        if heard is None or ahead.decoding.cancelled() or ahead.decoding.exception():
            return  # not decoded yet, or failed: the longest silence ends the turn
        if not sounds_finished(heard):
            _, decoded, _ = turn.undecoded()  # the finished pieces' text, before the pause's
            words = f"{decoded} {ahead.decoding.result()[0]}"
            delta = turn.partial.update(words, stable=len(words.split()))
            if delta:
                self._emit(TranscriptDelta(turn.item_id, delta))
            return
        self._turn = None
        self._emit(SpeechStopped(turn.item_id, ahead.resume / SAMPLE_RATE))
        if self._detector is not None:
            self._detector.reset(self._received // FRAME_SAMPLES)
        self._commit(turn, ahead.end, from_vad=True)

    def _start_label(self, open_turn: OpenTurn, end: int) -> asyncio.Future[str | None] | None:
        """Label the turn's audio up to ``end`` (None when the session names no speakers)."""
        if not self.options.speakers:
            return None
        samples, _ = self.held.between(max(open_turn.start, self.held.start), end)
        labelling = asyncio.ensure_future(self._decoder.speaker(samples))
        labelling.add_done_callback(retrieved)
        return labelling

    def _keep_piece(self, open_turn: OpenTurn, speech_end: int, resumed: int) -> None:
        """Speech came back at ``resumed`` after a gap from ``speech_end``: the audio before
        it is a finished piece of the turn when it is long enough, decoded now (or already,
        ahead of a pause); the next decodes read its text as their context. Under load too:
        while final decodes wait, a piece is decoded on its own length, not a 30 s window
        (``TurnDecoder.final``), so cutting it costs little, and the turn's end leaves only
        its last piece to decode. Six sessions ending 20 s turns at once, when pieces were
        not cut under load: 4 of them decoded the whole turn at its end, 2.4 s after it."""
        piece, open_turn.ahead = open_turn.ahead, None
        open_turn.drop_ahead()  # the label made ahead: the turn goes on
        if resumed - open_turn.cut < _MIN_PIECE_SECONDS * SAMPLE_RATE:
            if piece is not None:
                self._read_as_preview(open_turn, piece)
            return
        if piece is None:
            piece = self._start_piece(open_turn, resumed, speech_end, from_vad=True)
        open_turn.pieces.append(piece)
        self._context = piece.decoding

    def _cut_between_words(self, open_turn: OpenTurn) -> None:
        """Cut a long piece with no gap in it (speech that never falls silent, such as the
        sample's 8-10 s telephone turns) where its last preview heard one word end and the
        next begin, at the quietest 20 ms there: the piece before decodes while the turn
        goes on, and the turn's end leaves less to decode."""
        span, open_turn.between_words = open_turn.between_words, None
        if span is None or open_turn.ahead is not None or self._detector is None:
            return
        first = max(self.held.start, round((span[0] - _CUT_MARGIN_SECONDS) * SAMPLE_RATE))
        samples = self.held.between(first, round((span[1] + _CUT_MARGIN_SECONDS) * SAMPLE_RATE))[0]
        if samples.shape[0] < _QUIET_WINDOW:
            return
        cut = first + _quietest(samples)
        if cut - open_turn.cut < _MIN_PIECE_SECONDS * SAMPLE_RATE:
            return
        log.debug(
            "live turn %s: a long piece cut between words at %.2f s",
            open_turn.item_id,
            cut / SAMPLE_RATE,
        )
        self._keep_piece(open_turn, cut, cut)
        self._detector.cut_piece(cut // FRAME_SAMPLES)

    def _read_as_preview(self, turn: OpenTurn, piece: Piece) -> None:
        """A decode ahead too short to keep as a piece: its words (whole, before a pause) go
        out as a preview's would. Dropped, to leave the model to the rest, when a preview
        runs or final decodes wait, or when a piece before it is still decoding (its text
        would not follow the words sent)."""
        first, decoded, _ = turn.undecoded()
        previewing = turn.partial_task is not None and not turn.partial_task.done()
        if previewing or self._decoder.finals_waiting or first != piece.start:
            piece.decoding.cancel()
            return
        text = partial(_text_of, piece.decoding)
        turn.partial_task = asyncio.create_task(self._partial(turn, text, decoded, at_pause=True))

    def _start_piece(
        self,
        open_turn: OpenTurn,
        end: int,
        resume: int,
        *,
        from_vad: bool,
        short_window: bool = False,
    ) -> Piece:
        """Decode the open turn's audio from its cut to ``end``, after the last decode kept
        (``short_window``: see ``TurnDecoder.final``)."""
        start = max(open_turn.cut, self.held.start)
        samples, probabilities = self.held.between(start, end)
        decoding = asyncio.ensure_future(
            self._decode_piece(samples, probabilities, start, from_vad, self._context, short_window)
        )
        decoding.add_done_callback(retrieved)  # a dropped guess's failure is nobody's error
        return Piece(start, end, resume, decoding)

    async def _decode_piece(
        self,
        samples: np.ndarray,
        probabilities: np.ndarray,
        start: int,
        from_vad: bool,
        before: asyncio.Future[PieceText] | None,
        short_window: bool,
    ) -> PieceText:
        """A piece's text, prompted with the text before it (so it waits for that decode)."""
        context = await context_after(before)
        text, segments, language = await self._decoder.final(
            samples,
            probabilities,
            start / SAMPLE_RATE,
            from_vad=from_vad,
            with_words=self.options.logprobs,
            context=context,
            short_window=short_window,
        )
        return text, segments, language, with_context(context, text)

    def commit(self, *, quiet: bool) -> None:
        """The client's commit: the open turn (or the audio since the last commit) becomes a
        turn now; ``quiet`` skips an empty buffer instead of raising OpenAI's 400."""
        if quiet and self._detector is not None and self._turn is None:
            return  # server VAD heard nobody since the last turn: nothing to flush
        start = self._turn.start if self._turn is not None else self._floor
        end = self._received
        if end - start < _MIN_COMMIT_SECONDS * SAMPLE_RATE:
            if quiet:
                return
            raise BadRequest(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {1000 * (end - start) / SAMPLE_RATE:.2f}ms "
                "of audio.",
                code="input_audio_buffer_commit_empty",
            )
        turn, self._turn = (self._turn or OpenTurn(new_item_id(), start, self._context)), None
        if self._detector is not None:
            self._detector.reset(end // FRAME_SAMPLES)
        self._commit(turn, end, from_vad=False)

    def clear(self) -> None:
        """Drop the uncommitted audio and the open turn with it."""
        if self._turn is not None:
            self._turn.closed = True
            self._turn.drop()
            self._turn = None
        if self._detector is not None:
            self._detector.reset(self._received // FRAME_SAMPLES)
        self._floor = self._received
        self.held.trim(self._floor)
        self._emit(Cleared())

    def _commit(self, open_turn: OpenTurn, end: int, *, from_vad: bool) -> None:
        open_turn.closed = True
        if open_turn.partial_task is not None:
            open_turn.partial_task.cancel()  # a preview still queued gives way to the final
        last, label = open_turn.ahead, open_turn.label_ahead
        if last is not None and last.end == end and from_vad:
            open_turn.ahead = open_turn.label_ahead = None  # the same audio: decoded already
        else:
            open_turn.drop_ahead()
            last = self._start_piece(open_turn, end, end, from_vad=from_vad)
            label = self._start_label(open_turn, end)
        self._context = last.decoding
        start = max(open_turn.start, self.held.start)
        pieces = [piece.decoding for piece in (*open_turn.pieces, last)]
        samples = self.held.between(start, end)[0]
        turn = CommittedTurn(open_turn.item_id, start, samples, open_turn.partial, pieces, label)
        self._emit(Committed(turn.item_id, self._previous_item))
        self._previous_item = turn.item_id
        self._floor = end
        self.held.trim(end)
        self.in_flight += turn.samples.shape[0]
        task = asyncio.create_task(self._report(turn, self._last_report))
        self._last_report = task
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    # -- previews and reports -------------------------------------------------------------

    def _maybe_partial(self, turn: OpenTurn, at_pause: bool) -> None:
        """Start a partial decode of the open turn when it is worth the model's time: the
        interval (the engine's, stretched under load) has passed since the last one ended,
        the session has caught up with the audio sent (else the preview is stale at once),
        the turn is not at a pause (its decode ahead has every word there is), and the model
        is idle (neither decoding nor with work waiting). ``at_pause``: the audio so far ends
        in a short silence, so its last word is whole."""
        interval = self.engine.preview_interval(first_words=not turn.partial.sent) * SAMPLE_RATE
        busy = (
            turn.ahead is not None  # paused: the decode ahead has every word there is
            or (turn.partial_task is not None and not turn.partial_task.done())
            or self.queued > 0
            or self._decoder.queue_busy
        )
        long_enough = self._received - turn.start >= _MIN_PARTIAL_SECONDS * SAMPLE_RATE
        if busy or not long_enough or self._received - turn.partial_at < interval:
            return
        turn.partial_at = self._received
        first, decoded, context = turn.undecoded()
        first = max(first, self.held.start, self._received - int(MAX_CHUNK_SECONDS * SAMPLE_RATE))
        samples = self.held.between(first, self._received)[0]
        text = partial(self._preview, turn, samples, first, context)
        turn.partial_task = asyncio.create_task(self._partial(turn, text, decoded, at_pause))

    async def _preview(self, turn: OpenTurn, samples: np.ndarray, start: int, context: str) -> str:
        """A preview's text, its time counted in the budget all sessions share. When the
        audio after the turn's last piece is long, its words too, to find where to cut it
        (``_cut_between_words``)."""
        end = start + samples.shape[0]
        long = end - turn.cut >= _LONG_PIECE_SECONDS * SAMPLE_RATE
        began = time.perf_counter()
        text, words = await self._decoder.preview(
            samples, start / SAMPLE_RATE, context, with_words=long
        )
        self.engine.previews.record(time.perf_counter() - began)
        if long:
            earliest = turn.cut / SAMPLE_RATE + _MIN_PIECE_SECONDS
            latest = end / SAMPLE_RATE - _UNSETTLED_SECONDS
            turn.between_words = between_words(words, earliest, latest, gap=_WORD_GAP_SECONDS)
        return text

    async def _partial(
        self, turn: OpenTurn, text: Callable[[], Awaitable[str]], decoded: str, at_pause: bool
    ) -> None:
        """Send what a preview's ``text()`` (after the turn's ``decoded`` pieces) adds."""
        try:
            words = await text()
        except TympanError as exc:  # a partial is only a preview; the final decode reports
            log.debug("live partial decode failed: %s", exc)
            return
        finally:
            turn.partial_at = self._received  # the next interval counts from here
        if turn.closed:
            return
        delta = turn.partial.update(
            f"{decoded} {words}", stable=len(decoded.split()), at_pause=at_pause
        )
        if delta:
            self._emit(TranscriptDelta(turn.item_id, delta))

    async def _report(self, turn: CommittedTurn, previous: asyncio.Task[None] | None) -> None:
        """Wait for a committed turn's pieces and its label; report it after the turn before
        it."""
        outcome: list[LiveEvent]
        try:
            pieces = await asyncio.gather(*turn.pieces)
            speaker = None if turn.label is None else await turn.label
            duration = turn.samples.shape[0] / SAMPLE_RATE
            text, segments, language = self._decoder.join(
                [piece[:3] for piece in pieces], duration, with_words=self.options.logprobs
            )
            outcome = turn.completed(text, segments, language, speaker, self.options.logprobs)
        except TympanError as exc:
            outcome = [TranscriptFailed(turn.item_id, exc)]
        except Exception as exc:  # our bug: the client hears of it, the session goes on
            log.exception("live turn %s failed", turn.item_id)
            outcome = [TranscriptFailed(turn.item_id, TympanError(f"Transcription failed: {exc}"))]
        finally:
            self.in_flight -= turn.samples.shape[0]
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is its own; only the order matters
        for event in outcome:
            self._emit(event)
