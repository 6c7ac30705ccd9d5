// Live: the microphone transcribed as you speak, with enrolled speakers named.
// Speaks OpenAI's Realtime transcription protocol on /v1/realtime when the service offers it;
// otherwise sends each phrase (cut at a pause) to /v1/audio/transcriptions with diarize=true.
import { getApiKey, postForm } from "../api.js";
import { encodeWav, joinSamples, openMicrophone, toPcm16 } from "../recorder.js";
import { h, section, showError } from "../ui.js";

export const title = "Live";

const CHUNK_RATE = 16000;
const REALTIME_RATE = 24000;
const PAUSE_SECONDS = 0.4;
const MIN_PHRASE_SECONDS = 2;
const MAX_PHRASE_SECONDS = 10;
const SILENCE_RMS = 0.01;

function rms(samples) {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** Lines of the live transcript: one per finished phrase, plus the one being heard. */
function transcriptLines(container) {
  const partial = h("p", { class: "partial" });
  container.replaceChildren(partial);
  return {
    add(speaker, text) {
      if (!text.trim()) return;
      const line = h("p", { class: "segment" }, speaker ? h("span", { class: "speaker" }, speaker) : null, text.trim());
      container.insertBefore(line, partial);
    },
    partial(text) {
      partial.textContent = text;
    },
  };
}

/** Phrases cut at pauses, each transcribed (and its speakers named) by one request. */
async function startChunked(lines, setStatus) {
  let blocks = [];
  let quietSamples = 0;
  let phraseSamples = 0;
  let voiced = false;
  let queue = Promise.resolve();
  const send = (samples) => {
    const wav = encodeWav(samples, CHUNK_RATE);
    queue = queue.then(async () => {
      try {
        const response = await postForm("/v1/audio/transcriptions", { file: wav, diarize: "true", response_format: "verbose_json" });
        const transcription = await response.json();
        for (const segment of transcription.segments) lines.add(segment.speaker, segment.text);
      } catch (error) {
        showError(error);
      }
    });
  };
  const microphone = await openMicrophone(CHUNK_RATE, (block) => {
    blocks.push(block);
    phraseSamples += block.length;
    const level = rms(block);
    voiced ||= level >= SILENCE_RMS;
    quietSamples = level < SILENCE_RMS ? quietSamples + block.length : 0;
    const seconds = phraseSamples / CHUNK_RATE;
    const atPause = quietSamples / CHUNK_RATE >= PAUSE_SECONDS && seconds >= MIN_PHRASE_SECONDS;
    if (atPause || seconds >= MAX_PHRASE_SECONDS) {
      if (voiced) send(joinSamples(blocks));
      blocks = [];
      phraseSamples = 0;
      voiced = false;
    }
  });
  setStatus("Listening (phrase by phrase: this service has no /v1/realtime).");
  return async () => {
    await microphone.stop();
    if (voiced) send(joinSamples(blocks));
    await queue;
  };
}

function base64(pcm) {
  const bytes = new Uint8Array(pcm.buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** The Realtime WebSocket once it opens, or null when the service does not offer it. */
function openRealtime() {
  const url = new URL("/v1/realtime?intent=transcription", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const key = getApiKey();
  const protocols = key ? ["realtime", `openai-insecure-api-key.${key}`] : ["realtime"];
  return new Promise((resolve) => {
    let socket;
    try {
      socket = new WebSocket(url, protocols);
    } catch {
      resolve(null);
      return;
    }
    socket.onopen = () => resolve(socket);
    socket.onerror = () => resolve(null);
    socket.onclose = () => resolve(null);
  });
}

/** Stream PCM16 at 24 kHz over the Realtime protocol; the server finds turns and names. */
async function startRealtime(socket, lines, setStatus) {
  const partials = new Map();
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const id = event.item_id;
    if (event.type === "conversation.item.input_audio_transcription.delta") {
      partials.set(id, (partials.get(id) || "") + event.delta);
      lines.partial(partials.get(id));
    } else if (event.type === "conversation.item.input_audio_transcription.completed") {
      lines.add(event.speaker, event.transcript); // one per turn, with Tympan's speaker name
      partials.delete(id);
      lines.partial("");
    } else if (event.type === "error" || event.type.endsWith(".failed")) {
      showError(event.error || event);
    }
  };
  socket.onclose = () => setStatus("The realtime connection closed.");
  socket.send(JSON.stringify({
    type: "session.update",
    session: {
      type: "transcription",
      audio: { input: { format: { type: "audio/pcm", rate: REALTIME_RATE }, turn_detection: { type: "server_vad" } } },
      speakers: true, // Tympan's extension: name enrolled speakers on each turn
    },
  }));
  const microphone = await openMicrophone(REALTIME_RATE, (block) => {
    if (socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: base64(toPcm16(block)) }));
    }
  });
  setStatus("Listening (realtime).");
  return async () => {
    await microphone.stop();
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    setTimeout(() => socket.close(), 3000);
  };
}

export async function render(main) {
  const status = h("p", { class: "muted live-status", role: "status" }, "Press Start and speak; enrolled speakers are named.");
  const output = h("div", { class: "transcript live-transcript", "aria-live": "polite", "aria-label": "Live transcript" });
  const button = h("button", { type: "button", "aria-pressed": "false" }, "Start");
  let stop = null;
  const setStatus = (text) => (status.textContent = text);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (stop) {
        await stop();
        stop = null;
        button.textContent = "Start";
        button.setAttribute("aria-pressed", "false");
        setStatus("Stopped.");
        return;
      }
      const lines = transcriptLines(output);
      const socket = await openRealtime();
      stop = socket ? await startRealtime(socket, lines, setStatus) : await startChunked(lines, setStatus);
      button.textContent = "Stop";
      button.setAttribute("aria-pressed", "true");
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  main.append(section("Microphone", h("div", { class: "actions" }, button), status), section("Transcript", output));
  return () => stop?.();
}
