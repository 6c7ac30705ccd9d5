// Music: a motif from the on-screen keyboard or a MIDI file, continued in a learned style;
// the piece as a piano roll that follows the player, and MIDI / audio downloads.
import { getJSON, postForm, request } from "../api.js";
import { downloadLink, field, fileDrop, h, onSubmit, section } from "../ui.js";

export const title = "Music";

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const noteName = (pitch) => `${NAMES[pitch % 12]}${Math.floor(pitch / 12) - 1}`;
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

function beep(context, pitch) {
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.frequency.value = 440 * 2 ** ((pitch - 69) / 12);
  gain.gain.setValueAtTime(0.2, context.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.4);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start();
  oscillator.stop(context.currentTime + 0.4);
}

/** One octave of keys (C4 to C5); each press adds a one-beat note to `motif`. */
function keyboard(motif, onChange) {
  let context = null;
  const keys = [];
  for (let pitch = 60; pitch <= 72; pitch++) {
    const black = NAMES[pitch % 12].includes("#");
    keys.push(
      h("button", {
        type: "button",
        class: black ? "black" : "white",
        "aria-label": `Add ${noteName(pitch)}`,
        onclick: () => {
          context ||= new AudioContext();
          beep(context, pitch);
          motif.push({ pitch, onset: motif.length, duration: 1 });
          onChange();
        },
      }, noteName(pitch)),
    );
  }
  return h("div", { class: "keyboard", role: "group", "aria-label": "Keyboard: each key adds a note" }, keys);
}

/** The piece's notes as an SVG piano roll; the prompt in grey, the continuation in colour. */
function pianoRoll(piece, player) {
  const pitches = piece.notes.map((note) => note.pitch);
  const low = Math.min(...pitches) - 1;
  const high = Math.max(...pitches) + 1;
  const width = 1000;
  const height = 240;
  const x = (seconds) => (width * seconds) / piece.seconds;
  const rowHeight = height / (high - low + 1);
  const roll = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "piano-roll", role: "img", "aria-label": `Piano roll: ${piece.notes.length} notes over ${piece.seconds.toFixed(1)} s` });
  for (let pitch = low; pitch <= high; pitch++) {
    if (NAMES[pitch % 12].includes("#")) roll.append(svg("rect", { x: 0, y: (high - pitch) * rowHeight, width, height: rowHeight, fill: "#f3f4f6" }));
  }
  piece.notes.forEach((note, index) => {
    const rect = svg("rect", {
      x: x(note.onset_seconds), y: (high - note.pitch) * rowHeight + 1, width: Math.max(2, x(note.duration_seconds) - 1), height: Math.max(2, rowHeight - 2),
      rx: 2, fill: index < piece.prompt_notes ? "#9ca3af" : "#2563eb", class: "note",
    });
    rect.append(svg("title", {}));
    rect.firstChild.textContent = `${noteName(note.pitch)} at ${note.onset_seconds.toFixed(2)} s`;
    roll.append(rect);
  });
  const playhead = svg("line", { x1: 0, x2: 0, y1: 0, y2: height, stroke: "#b42318", "stroke-width": 2 });
  roll.append(playhead);
  player.addEventListener("timeupdate", () => {
    playhead.setAttribute("x1", x(player.currentTime));
    playhead.setAttribute("x2", x(player.currentTime));
  });
  return roll;
}

export async function render(main) {
  const models = (await getJSON("/v1/models?task=music")).data;
  const motif = [];
  const motifText = h("output", { class: "motif", "aria-live": "polite" });
  const showMotif = () => (motifText.textContent = motif.length ? motif.map((note) => noteName(note.pitch)).join(" ") : "(no notes: the model composes from scratch)");
  showMotif();
  const player = h("audio", { controls: true, class: "player" });
  const result = h("div", { class: "music-result", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "stack" },
    h("p", { class: "muted" }, "Play a motif on the keys, or choose a MIDI file (the file wins)."),
    keyboard(motif, showMotif),
    h("div", { class: "actions" }, h("span", {}, "Motif: "), motifText, h("button", { type: "button", class: "link", onclick: () => { motif.length = 0; showMotif(); } }, "Clear")),
    fileDrop({ name: "prompt", label: "Or a MIDI prompt", accept: ".mid,.midi,audio/midi", required: false }),
    h(
      "div",
      { class: "row" },
      field("Model", h("select", { name: "model" }, models.map((model) => h("option", { value: model.id }, model.id)))),
      field("Bars", h("input", { name: "bars", type: "number", min: 1, max: 64, value: 4 })),
      field("Tempo (BPM)", h("input", { name: "tempo", type: "number", min: 30, max: 300, placeholder: "auto" })),
      field("Seed", h("input", { name: "seed", type: "number", min: 0, placeholder: "random" })),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Generate")),
  );
  onSubmit(form, async (data) => {
    const midi = data.get("prompt");
    const fields = { model: data.get("model"), bars: Number(data.get("bars")), seed: Number(data.get("seed") || Math.floor(Math.random() * 2 ** 31)) };
    if (data.get("tempo")) fields.tempo = Number(data.get("tempo"));
    // The same seed gives the same piece, so the notes, audio and MIDI are one piece.
    const generate = (format) =>
      midi?.size
        ? postForm("/v1/music/generations", { ...fields, prompt: midi, response_format: format })
        : request("/v1/music/generations", { method: "POST", json: { ...fields, notes: motif.length ? motif : null, response_format: format } });
    result.replaceChildren(h("p", { class: "muted" }, "Composing…"));
    const piece = await (await generate("json")).json();
    const [audio, file] = await Promise.all([(await generate("wav")).blob(), (await generate("midi")).blob()]);
    player.src = URL.createObjectURL(audio);
    result.replaceChildren(
      h("p", { class: "piece-summary" }, `${piece.model}: ${piece.notes.length} notes, ${piece.bars} bars in ${piece.key}, ${piece.meter} at ${Math.round(piece.tempo)} BPM (${piece.seconds.toFixed(1)} s, seed ${piece.seed}).`),
      pianoRoll(piece, player),
      player,
      h("div", { class: "actions" }, downloadLink(file, `music-${piece.seed}.mid`, "Download MIDI"), downloadLink(audio, `music-${piece.seed}.wav`, "Download WAV")),
    );
  });
  main.append(section("Motif", form), section("Piece", result));
  return () => player.pause();
}
