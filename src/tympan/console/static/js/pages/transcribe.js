// Transcribe: upload or drop a recording; transcript with speakers, timeline, highlighting.
import { getJSON, postForm, readEvents } from "../api.js";
import { highlightWords, speakerTimeline, transcriptDownloads, transcriptView } from "../transcript.js";
import { field, fileDrop, formatTime, h, onSubmit, section } from "../ui.js";

export const title = "Transcribe";

async function transcribe(fields, progress) {
  if (fields.diarize) {
    const response = await postForm("/v1/audio/transcriptions", { ...fields, response_format: "verbose_json" });
    return response.json();
  }
  // Without speakers the answer streams, so long recordings show their progress.
  const response = await postForm("/v1/audio/transcriptions", { ...fields, stream: "true" });
  for await (const event of readEvents(response)) {
    if (event.type === "transcript.text.delta") progress.value = event.progress;
    else if (event.type === "transcript.text.done") return event.transcription;
    else if (event.type === "error") throw Object.assign(new Error(event.error.message), event.error, { status: event.status });
  }
  throw new Error("The transcription stream ended without a result.");
}

export async function render(main) {
  const models = (await getJSON("/v1/models?task=asr")).data;
  const modelSelect = h("select", { name: "model" }, models.map((model) => h("option", { value: model.id }, model.id)));
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Transcription progress" });
  const result = h("div", { class: "result", "aria-live": "polite" });
  let stopHighlight = null;

  const form = h(
    "form",
    { class: "stack" },
    fileDrop({ name: "file", label: "Recording" }),
    h(
      "div",
      { class: "row" },
      field("Model", modelSelect),
      field("Language", h("input", { name: "language", placeholder: "detect", size: 6, maxlength: 8 }), "ISO code, e.g. en"),
      h("div", { class: "field check" }, h("input", { type: "checkbox", id: "diarize", name: "diarize", checked: true }), h("label", { for: "diarize" }, "Name the speakers")),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Transcribe"), progress),
  );

  onSubmit(form, async (data) => {
    const file = data.get("file");
    stopHighlight?.();
    result.replaceChildren(h("p", { class: "muted" }, `Transcribing ${file.name}…`));
    progress.hidden = false;
    progress.value = 0;
    try {
      const transcription = await transcribe(
        {
          file,
          model: data.get("model"),
          language: data.get("language").trim(),
          diarize: data.get("diarize") ? "true" : "",
          "timestamp_granularities[]": ["word", "segment"],
        },
        progress,
      );
      const player = h("audio", { controls: true, src: URL.createObjectURL(file), class: "player" });
      const view = transcriptView(transcription.segments, player);
      const diarized = transcription.segments.some((segment) => segment.speaker);
      result.replaceChildren(
        h("p", { class: "muted" }, `${formatTime(transcription.duration)} of ${transcription.language} audio, ${transcription.segments.length} segments.`),
        player,
        diarized ? speakerTimeline(transcription.segments, transcription.duration, player) : null,
        view,
        transcriptDownloads(transcription, file.name.replace(/\.[^.]+$/, "") || "transcript"),
      );
      stopHighlight = highlightWords(view, player);
    } catch (error) {
      result.replaceChildren();
      throw error;
    } finally {
      progress.hidden = true;
    }
  });
  main.append(section("Recording", form), result);
  return () => stopHighlight?.();
}
