// Enhance: upload noisy speech, hear it beside the cleaned version, download the result.
import { getJSON, postForm } from "../api.js";
import { downloadLink, field, fileDrop, h, onSubmit, section } from "../ui.js";

export const title = "Enhance";

const FORMATS = { wav: "audio/wav", flac: "audio/flac", mp3: "audio/mpeg", opus: "audio/ogg" };

export async function render(main) {
  const models = (await getJSON("/v1/models?task=enhancement")).data;
  const before = h("audio", { controls: true, class: "player before" });
  const after = h("audio", { controls: true, class: "player after" });
  const status = h("p", { class: "muted enhance-status", "aria-live": "polite" });
  const download = h("div", { class: "actions" });
  const form = h(
    "form",
    { class: "stack" },
    fileDrop({ name: "file", label: "Noisy recording" }),
    h(
      "div",
      { class: "row" },
      field("Enhancer", h("select", { name: "model" }, models.map((model) => h("option", { value: model.id }, `${model.id}: ${model.description ?? ""}`)))),
      field("Format", h("select", { name: "response_format" }, Object.keys(FORMATS).map((format) => h("option", { value: format }, format)))),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Enhance")),
  );
  onSubmit(form, async (data) => {
    const file = data.get("file");
    const format = data.get("response_format");
    const started = performance.now();
    before.src = URL.createObjectURL(file);
    download.replaceChildren();
    status.textContent = `Enhancing ${file.name}…`;
    const response = await postForm("/v1/audio/enhancements", { file, model: data.get("model"), response_format: format });
    const blob = new Blob([await response.arrayBuffer()], { type: FORMATS[format] });
    after.src = URL.createObjectURL(blob);
    const stem = file.name.replace(/\.[^.]+$/, "");
    status.textContent = `${data.get("model")}: ${blob.size} bytes of ${format} in ${Math.round(performance.now() - started)} ms.`;
    download.replaceChildren(downloadLink(blob, `${stem}.enhanced.${format}`, `Download ${format.toUpperCase()}`));
  });
  main.append(
    section("Clean up a recording", form),
    section("Compare", field("Before", before), field("After", after), status, download),
  );
  return () => {
    before.pause();
    after.pause();
  };
}
