// Classifiers: train from a zip (watch the job), versions and stages, the report with curves
// and confusion matrix, promote / roll back, try a clip, add labelled examples.
import { blobURL, getJSON, postForm, postJSON } from "../api.js";
import { followJob, jobError, jobProgress, rememberJob } from "../jobs.js";
import { field, fileDrop, h, onClick, onSubmit, section, table } from "../ui.js";

export const title = "Classifiers";

const ARCHITECTURES = ["transfer", "cnn", "crnn", "attention", "multimodal"];
const percent = (value) => (typeof value === "number" ? `${(100 * value).toFixed(1)}%` : "");

function trainForm(onTrained) {
  const progress = jobProgress();
  progress.element.hidden = true;
  const form = h(
    "form",
    { class: "stack" },
    h(
      "div",
      { class: "row" },
      field("Name", h("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*", autocomplete: "off" }), "letters, digits, - _ ."),
      field("Architecture", h("select", { name: "arch" }, ARCHITECTURES.map((arch) => h("option", { value: arch }, arch)))),
      field("Max epochs", h("input", { name: "max_epochs", type: "number", min: 1, max: 1000, value: 30 })),
    ),
    fileDrop({ name: "dataset", label: "Dataset zip (a folder per class, or manifest.csv)", accept: ".zip,application/zip" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Train")),
    progress.element,
  );
  onSubmit(form, async (data) => {
    const job = await (await postForm("/v1/classifiers", Object.fromEntries(data))).json();
    rememberJob(job);
    progress.element.hidden = false;
    const done = await followJob(job.id, progress.update);
    if (done.status !== "succeeded") throw new Error(`Training ${done.status}: ${jobError(done) || done.message}`);
    await onTrained(data.get("name"));
  });
  return form;
}

function versionsTable(name, versions, refresh) {
  const stageButton = (version, stage, text) =>
    onClick(h("button", { type: "button", class: "secondary", "aria-label": `${text} version ${version.version}` }, text), async () => {
      await postJSON(`/v1/classifiers/${name}/promote`, { version: version.version, stage });
      await refresh(version.version);
    });
  return table(
    "Versions",
    ["Version", "Stage", "Accuracy", "Macro-F1", "Labels", "Created", ""],
    versions.map((version) => [
      h("button", { type: "button", class: "link", onclick: () => refresh(version.version) }, `v${version.version}`),
      h("span", { class: "stage" }, version.stage),
      percent(version.metrics.accuracy),
      percent(version.metrics.macro_f1),
      version.labels.join(", "),
      new Date(version.created_at).toLocaleString(),
      h("div", { class: "actions" }, stageButton(version, "production", "Promote"), stageButton(version, "staging", "Stage"), stageButton(version, "archived", "Archive")),
    ]),
  );
}

/** A report image of a version, or a note when that version has none (an examples refit). */
async function reportImage(name, version, file, caption) {
  try {
    const url = await blobURL(`/v1/classifiers/${name}/versions/${version}/${file}`);
    return h("figure", {}, h("img", { src: url, alt: `${caption} of ${name} v${version}` }), h("figcaption", {}, caption));
  } catch (error) {
    if (error.status !== 404) throw error;
    return h("p", { class: "muted" }, `v${version} has no ${caption.toLowerCase()} (it was refit from added examples).`);
  }
}

async function reportView(name, version) {
  const figures = await Promise.all([
    reportImage(name, version.version, "curves.png", "Training curves"),
    reportImage(name, version.version, "confusion.png", "Confusion matrix"),
  ]);
  const metrics = Object.entries(version.metrics).filter(([, value]) => typeof value === "number");
  return h(
    "div",
    { class: "report" },
    h("h3", {}, `Report of v${version.version}`),
    h("p", { class: "muted" }, metrics.map(([key, value]) => `${key} ${value < 1.0001 && value >= 0 ? percent(value) : value}`).join(" · ")),
    h("div", { class: "report-images" }, figures),
  );
}

function tryForm(name) {
  const result = h("div", { class: "prediction", "aria-live": "polite" });
  const form = h("form", { class: "stack" }, fileDrop({ name: "file", label: "A clip to classify" }), h("div", { class: "actions" }, h("button", { type: "submit" }, "Classify")), result);
  onSubmit(form, async (data) => {
    const prediction = await (await postForm(`/v1/classifiers/${name}/predict`, { file: data.get("file") })).json();
    result.replaceChildren(
      h("p", { class: "verdict" }, `${prediction.label} (${percent(prediction.probability)})`),
      table("Top labels", ["Label", "Probability", ""], prediction.top.map((score) => [
        score.label, percent(score.probability), h("div", { class: "bar", style: `width:${100 * score.probability}%` }),
      ])),
    );
  });
  return form;
}

function examplesForm(name, refresh) {
  const result = h("p", { class: "muted", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "stack" },
    field("Label", h("input", { name: "label", required: true, autocomplete: "off" })),
    fileDrop({ name: "files", label: "Labelled clips", multiple: true }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add examples")),
    result,
  );
  onSubmit(form, async (data) => {
    const answer = await (await postForm(`/v1/classifiers/${name}/examples`, { label: data.get("label"), files: data.getAll("files") })).json();
    result.textContent = `Version ${answer.version} learned ${answer.examples} example(s) of ${answer.label}${answer.new_label ? " (a new label)" : ""}.`;
    await refresh(answer.version);
  });
  return form;
}

export async function render(main) {
  const list = h("div", { class: "table-wrap" });
  const detail = h("div", { class: "classifier-detail" });

  const open = async (name, chosen) => {
    const refresh = (version) => open(name, version);
    const versions = await getJSON(`/v1/classifiers/${name}/versions`);
    const shown =
      versions.find((version) => version.version === chosen) ||
      versions.find((version) => version.stage === "production") ||
      versions.at(-1);
    const rollback = onClick(h("button", { type: "button", class: "secondary" }, "Roll back production"), async () => {
      await postJSON(`/v1/classifiers/${name}/rollback`, {});
      await refresh();
    });
    detail.replaceChildren(
      section(`${name}`, h("div", { class: "table-wrap" }, versionsTable(name, versions, refresh)), h("div", { class: "actions" }, rollback), await reportView(name, shown)),
      h("div", { class: "grid" }, section("Try a clip", tryForm(name)), section("Add examples", examplesForm(name, refresh))),
    );
    await refreshList();
  };

  const refreshList = async () => {
    const classifiers = await getJSON("/v1/classifiers");
    list.replaceChildren(
      classifiers.length
        ? table("Classifiers", ["Name", "Served", "Stage", "Architecture", "Labels", "Accuracy"], classifiers.map((c) => [
            h("button", { type: "button", class: "link", onclick: () => open(c.name) }, c.name), c.served, c.stage, c.arch, c.labels.join(", "), percent(c.metrics.accuracy),
          ]))
        : h("p", { class: "muted" }, "No classifier trained yet."),
    );
  };
  await refreshList();
  main.append(h("div", { class: "grid" }, section("Train", trainForm((name) => open(name))), section("Classifiers", list)), detail);
}
