// Speech: type text, pick a voice, speed and format; playback starts while the audio streams.
import { getJSON, request } from "../api.js";
import { downloadLink, field, h, onSubmit, section } from "../ui.js";

export const title = "Speech";

const FORMATS = { mp3: "audio/mpeg", wav: "audio/wav", opus: "audio/ogg", aac: "audio/aac", flac: "audio/flac", pcm: "audio/pcm" };

/** Append one chunk to a SourceBuffer and wait until the buffer has taken it. */
function append(buffer, chunk) {
  return new Promise((resolve, reject) => {
    buffer.addEventListener("updateend", resolve, { once: true });
    buffer.addEventListener("error", reject, { once: true });
    buffer.appendBuffer(chunk);
  });
}

/** Play an MP3 stream through Media Source Extensions as its chunks arrive; all bytes at the end. */
async function playWhileStreaming(response, player, onFirstChunk) {
  const source = new MediaSource();
  player.src = URL.createObjectURL(source);
  await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
  const buffer = source.addSourceBuffer("audio/mpeg");
  const chunks = [];
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    await append(buffer, value);
    if (chunks.length === 1) {
      onFirstChunk();
      player.play().catch(() => {});
    }
  }
  source.endOfStream();
  return new Blob(chunks, { type: "audio/mpeg" });
}

export async function render(main) {
  const voices = (await getJSON("/v1/audio/voices")).data;
  const speedValue = h("output", { for: "speed" }, "1.00×");
  const speed = h("input", { type: "range", id: "speed", name: "speed", min: 0.25, max: 4, step: 0.05, value: 1 });
  speed.addEventListener("input", () => (speedValue.textContent = `${Number(speed.value).toFixed(2)}×`));
  const player = h("audio", { controls: true, class: "player" });
  const status = h("p", { class: "muted speech-status", "aria-live": "polite" });
  const download = h("div", { class: "actions" });
  const form = h(
    "form",
    { class: "stack" },
    field("Text", h("textarea", { name: "input", required: true, maxlength: 4096 }, "Hello from Tympan. Every word you read here was spoken on this machine.")),
    h(
      "div",
      { class: "row" },
      field("Voice", h("select", { name: "voice" }, voices.map((voice) => h("option", { value: voice.id }, `${voice.id} (${voice.language})`)))),
      h("div", { class: "field" }, h("label", { for: "speed" }, "Speed ", speedValue), speed),
      field("Format", h("select", { name: "response_format" }, Object.keys(FORMATS).map((format) => h("option", { value: format }, format)))),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Speak")),
  );
  onSubmit(form, async (data) => {
    const format = data.get("response_format");
    const started = performance.now();
    download.replaceChildren();
    status.textContent = "Synthesising…";
    const response = await request("/v1/audio/speech", {
      method: "POST",
      json: { input: data.get("input"), voice: data.get("voice"), speed: Number(data.get("speed")), response_format: format },
    });
    const firstAudio = () => (status.textContent = `First audio after ${Math.round(performance.now() - started)} ms…`);
    let blob;
    if (format === "mp3" && window.MediaSource?.isTypeSupported("audio/mpeg")) {
      blob = await playWhileStreaming(response, player, firstAudio);
    } else {
      blob = new Blob([await response.arrayBuffer()], { type: FORMATS[format] });
      firstAudio();
      if (format !== "pcm") {
        player.src = URL.createObjectURL(blob);
        player.play().catch(() => {});
      }
    }
    status.textContent = `${response.headers.get("X-Tympan-Voice")}: ${blob.size} bytes of ${format} in ${Math.round(performance.now() - started)} ms.`;
    download.replaceChildren(downloadLink(blob, `speech.${format}`, `Download ${format.toUpperCase()}`));
  });
  main.append(section("Say something", form), section("Listen", player, status, download));
  return () => player.pause();
}
