// A transcription on screen: speaker timeline, words highlighted as the audio plays, and the
// SRT / WebVTT / JSON downloads (the same cue rules as the API's srt and vtt formats).
import { colourFor, downloadLink, formatTime, h } from "./ui.js";

/** Speakers in order of first appearance, each with its colour. */
function speakerColours(segments) {
  const colours = new Map();
  for (const segment of segments) {
    if (segment.speaker && !colours.has(segment.speaker)) {
      colours.set(segment.speaker, colourFor(colours.size));
    }
  }
  return colours;
}

/** One row per speaker with a bar per turn; clicking a bar plays from there. */
export function speakerTimeline(segments, duration, player) {
  const colours = speakerColours(segments);
  const playhead = h("div", { class: "playhead", "aria-hidden": "true" });
  const rows = [...colours].map(([speaker, colour]) =>
    h(
      "div",
      { class: "timeline-row" },
      h("span", { class: "timeline-name", style: `color:${colour}` }, speaker),
      h(
        "div",
        { class: "timeline-track" },
        segments
          .filter((segment) => segment.speaker === speaker)
          .map((segment) =>
            h("button", {
              type: "button",
              class: "turn",
              style: `left:${(100 * segment.start) / duration}%;width:${
                (100 * (segment.end - segment.start)) / duration
              }%;background:${colour}`,
              "aria-label": `${speaker} ${formatTime(segment.start)} to ${formatTime(segment.end)}`,
              onclick: () => seek(player, segment.start),
            }),
          ),
      ),
    ),
  );
  const timeline = h(
    "figure",
    { class: "timeline" },
    h("figcaption", {}, "Who spoke when"),
    h("div", { class: "timeline-rows" }, rows, playhead),
  );
  player?.addEventListener("timeupdate", () => {
    playhead.style.left = `calc(var(--name-width) + (100% - var(--name-width)) * ${
      player.currentTime / duration
    })`;
  });
  return timeline;
}

function seek(player, seconds) {
  if (!player) return;
  player.currentTime = seconds;
  player.play().catch(() => {});
}

function wordSpans(segment, player) {
  const words = segment.words?.length
    ? segment.words
    : [{ word: segment.text, start: segment.start, end: segment.end }];
  return words.map((word) =>
    h(
      "span",
      {
        class: "word",
        "data-start": word.start,
        "data-end": word.end,
        onclick: () => seek(player, word.start),
      },
      word.word,
    ),
  );
}

/** The transcript: a paragraph per segment with its speaker and time. */
export function transcriptView(segments, player) {
  const colours = speakerColours(segments);
  return h(
    "div",
    { class: "transcript", "aria-label": "Transcript" },
    segments.map((segment) =>
      h(
        "p",
        { class: "segment" },
        segment.speaker
          ? h("span", { class: "speaker", style: `color:${colours.get(segment.speaker)}` }, segment.speaker)
          : null,
        h(
          "button",
          { type: "button", class: "time link", onclick: () => seek(player, segment.start) },
          formatTime(segment.start),
        ),
        h("span", { class: "segment-text" }, wordSpans(segment, player)),
      ),
    ),
  );
}

/** Mark the word being spoken in `view` while `player` plays; returns a stop function. */
export function highlightWords(view, player) {
  const spans = [...view.querySelectorAll(".word")];
  const starts = spans.map((span) => Number(span.dataset.start));
  let current = null;
  let frame = 0;
  const update = () => {
    const time = player.currentTime;
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (starts[middle] <= time) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    const span = found >= 0 && time <= Number(spans[found].dataset.end) + 0.15 ? spans[found] : null;
    if (span !== current) {
      current?.classList.remove("spoken");
      span?.classList.add("spoken");
      current = span;
    }
    if (!player.paused) frame = requestAnimationFrame(update);
  };
  player.addEventListener("play", update);
  player.addEventListener("seeked", update);
  player.addEventListener("timeupdate", update);
  return () => cancelAnimationFrame(frame);
}

function timestamp(seconds, decimal) {
  let millis = Math.max(0, Math.round(seconds * 1000));
  const hours = Math.floor(millis / 3_600_000);
  millis -= hours * 3_600_000;
  const minutes = Math.floor(millis / 60_000);
  millis -= minutes * 60_000;
  const secs = Math.floor(millis / 1000);
  millis -= secs * 1000;
  const two = (value) => String(value).padStart(2, "0");
  return `${two(hours)}:${two(minutes)}:${two(secs)}${decimal}${String(millis).padStart(3, "0")}`;
}

/** The transcript as SubRip or WebVTT: one cue per segment, "Name: text" / a voice tag. */
function subtitles(segments, format) {
  const decimal = format === "srt" ? "," : ".";
  const cues = segments.map((segment, index) => {
    const span = `${timestamp(segment.start, decimal)} --> ${timestamp(segment.end, decimal)}`;
    let text = segment.text.trim().replaceAll("-->", "->");
    if (segment.speaker) text = format === "srt" ? `${segment.speaker}: ${text}` : `<v ${segment.speaker}>${text}`;
    return format === "srt" ? `${index + 1}\n${span}\n${text}\n` : `${span}\n${text}\n`;
  });
  return (format === "vtt" ? "WEBVTT\n\n" : "") + cues.join("\n");
}

/** Download links for a transcription as SRT, VTT and JSON, named after the audio file. */
export function transcriptDownloads(transcription, stem) {
  const text = (value, type) => new Blob([value], { type });
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": "Download the transcript" },
    downloadLink(text(subtitles(transcription.segments, "srt"), "application/x-subrip"), `${stem}.srt`, "Download SRT"),
    downloadLink(text(subtitles(transcription.segments, "vtt"), "text/vtt"), `${stem}.vtt`, "Download VTT"),
    downloadLink(text(JSON.stringify(transcription, null, 2), "application/json"), `${stem}.json`, "Download JSON"),
  );
}
