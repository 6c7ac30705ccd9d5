// Speakers: enroll from files or the microphone, list, add samples, rename, delete, verify,
// identify.
import { deleteResource, getJSON, patchJSON, postForm } from "../api.js";
import { recordButton } from "../recorder.js";
import { field, fileDrop, formatTime, h, onClick, onSubmit, section, showError, table } from "../ui.js";

export const title = "Speakers";

function verdict(result) {
  const same = result.same_speaker;
  return h(
    "div",
    { class: "stack" },
    h("p", { class: `verdict ${same ? "same" : "different"}` }, same ? "Same speaker" : "Different speakers"),
    h("p", { class: "muted" }, `score ${result.score.toFixed(3)}, threshold ${result.threshold.toFixed(3)} (${result.model})`),
  );
}

function enrollForm(refresh) {
  const recorded = [];
  const takes = h("span", { class: "muted", "aria-live": "polite" });
  const files = fileDrop({ name: "file", label: "Recordings of the speaker", multiple: true, required: false });
  const record = recordButton((wav) => {
    recorded.push(new File([wav], `microphone-${recorded.length + 1}.wav`, { type: "audio/wav" }));
    takes.textContent = `${recorded.length} microphone take(s) ready`;
  });
  const form = h(
    "form",
    { class: "stack" },
    field("Name", h("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" })),
    files,
    h("div", { class: "actions" }, record, takes),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Enroll")),
  );
  onSubmit(form, async (data) => {
    const all = [...data.getAll("file").filter((file) => file.size), ...recorded];
    if (!all.length) throw new Error("Choose at least one recording or record from the microphone.");
    await postForm("/v1/speakers", { name: data.get("name").trim(), file: all });
    form.reset();
    recorded.length = 0;
    takes.textContent = "";
    files.querySelector(".file-chosen").textContent = "No file chosen";
    await refresh();
  });
  return form;
}

function speakerRow(speaker, refresh) {
  const more = h("input", { type: "file", accept: "audio/*", multiple: true, class: "visually-hidden", "aria-label": `Add recordings to ${speaker.name}` });
  more.addEventListener("change", async () => {
    try {
      await postForm(`/v1/speakers/${speaker.id}/samples`, { file: [...more.files] });
      await refresh();
    } catch (error) {
      showError(error);
    }
  });
  const remove = onClick(h("button", { type: "button", class: "danger", "aria-label": `Delete ${speaker.name}` }, "Delete"), async () => {
    if (!confirm(`Delete ${speaker.name} and their voiceprint?`)) return;
    await deleteResource(`/v1/speakers/${speaker.id}`);
    await refresh();
  });
  const rename = onClick(h("button", { type: "button", class: "secondary", "aria-label": `Rename ${speaker.name}` }, "Rename"), async () => {
    const name = prompt(`New name for ${speaker.name}`, speaker.name);
    if (name === null || name === speaker.name) return;
    await patchJSON(`/v1/speakers/${speaker.id}`, { name });
    await refresh();
  });
  const add = h("button", { type: "button", class: "secondary", onclick: () => more.click() }, "Add recordings");
  return [
    h("span", { class: "speaker-name" }, speaker.name),
    String(speaker.num_samples),
    formatTime(speaker.speech_seconds),
    speaker.model,
    h("div", { class: "actions" }, add, more, rename, remove),
  ];
}

function verifyForm() {
  const result = h("div", { "aria-live": "polite", class: "verify-result" });
  const form = h(
    "form",
    { class: "stack" },
    fileDrop({ name: "file", label: "First clip" }),
    fileDrop({ name: "file2", label: "Second clip" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Compare")),
    result,
  );
  onSubmit(form, async (data) => {
    result.replaceChildren();
    const response = await postForm("/v1/speakers/verify", { file: data.get("file"), file2: data.get("file2") });
    result.replaceChildren(verdict(await response.json()));
  });
  return form;
}

function identifyForm() {
  const result = h("div", { "aria-live": "polite", class: "identify-result" });
  const form = h(
    "form",
    { class: "stack" },
    fileDrop({ name: "file", label: "Who is speaking in this clip?" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Identify")),
    result,
  );
  onSubmit(form, async (data) => {
    result.replaceChildren();
    const answer = await (await postForm("/v1/speakers/identify", { file: data.get("file") })).json();
    result.replaceChildren(
      h("p", { class: "verdict" }, answer.speaker ? answer.speaker.name : "Nobody enrolled"),
      table("Closest voices", ["Name", "Score"], answer.ranking.map((c) => [c.name, c.score.toFixed(3)])),
    );
  });
  return form;
}

export async function render(main) {
  const list = h("div", { class: "table-wrap" });
  const refresh = async () => {
    const speakers = await getJSON("/v1/speakers");
    list.replaceChildren(
      speakers.length
        ? table(`${speakers.length} enrolled`, ["Name", "Samples", "Speech", "Model", ""], speakers.map((s) => speakerRow(s, refresh)))
        : h("p", { class: "muted" }, "Nobody is enrolled yet."),
    );
  };
  await refresh();
  main.append(
    h("div", { class: "grid" }, section("Enroll a speaker", enrollForm(refresh)), section("Enrolled speakers", list)),
    h("div", { class: "grid" }, section("Verify two clips", verifyForm()), section("Identify", identifyForm())),
  );
}
