// Jobs: the latest background work (training) of the key's namespace, or any job by id, with
// live progress.
import { getJSON } from "../api.js";
import { followJob, jobError, knownJobIds } from "../jobs.js";
import { field, h, onSubmit, section, showError, table } from "../ui.js";

export const title = "Jobs";

function when(iso) {
  return new Date(iso).toLocaleString();
}

function outcome(job) {
  if (job.error) return jobError(job);
  if (!job.result) return job.message;
  return h("details", { class: "job-result" }, h("summary", {}, job.message || "Result"), h("pre", {}, JSON.stringify(job.result, null, 2)));
}

export async function render(main) {
  const controller = new AbortController();
  const jobs = new Map();
  const list = h("div", { class: "table-wrap", "aria-live": "polite" });
  const draw = () => {
    const rows = [...jobs.values()].map((job) => [
      h("code", {}, job.id), job.kind, job.status, h("progress", { max: 1, value: job.progress, "aria-label": `${job.id} progress` }), when(job.created_at), outcome(job),
    ]);
    list.replaceChildren(
      rows.length ? table("Jobs", ["Id", "Kind", "Status", "Progress", "Started", "Message / result"], rows)
        : h("p", { class: "muted" }, "No jobs yet. Training a classifier or a music model starts one."),
    );
  };
  const watch = (id) =>
    followJob(id, (job) => {
      jobs.set(job.id, job);
      draw();
    }, { signal: controller.signal, interval: 2000 });

  const lookup = h(
    "form",
    { class: "row" },
    field("Job id", h("input", { name: "id", required: true, autocomplete: "off", size: 36 })),
    h("button", { type: "submit" }, "Look up"),
  );
  onSubmit(lookup, async (data) => {
    const id = data.get("id").trim();
    watch(id).catch(showError);
    lookup.reset();
  });
  draw();
  main.append(section("Look up a job", lookup), section("Recent jobs", list));
  const recent = await getJSON("/v1/jobs?limit=50");
  for (const job of recent.data) jobs.set(job.id, job);
  draw();
  const running = recent.data.filter((job) => job.status === "queued" || job.status === "running").map((job) => job.id);
  await Promise.all([...new Set([...running, ...knownJobIds()])].map((id) => watch(id).catch(() => null)));
  return () => controller.abort();
}
