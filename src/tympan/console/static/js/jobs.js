// Background jobs: the ids this tab started (the API lists no jobs), and polling one to its end.
import { getJSON } from "./api.js";
import { h } from "./ui.js";

const STORAGE = "tympan.jobs";

/** Remember a job this tab started, so the Jobs page can show it. */
export function rememberJob(job) {
  const ids = knownJobIds().filter((id) => id !== job.id);
  sessionStorage.setItem(STORAGE, JSON.stringify([job.id, ...ids].slice(0, 50)));
}

/** Ids of the jobs this tab started, newest first. */
export function knownJobIds() {
  return JSON.parse(sessionStorage.getItem(STORAGE) || "[]");
}

/** Poll `GET /v1/jobs/{id}` until the job ends; `onUpdate(job)` sees each state. */
export async function followJob(id, onUpdate, { interval = 1000, signal } = {}) {
  for (;;) {
    const job = await getJSON(`/v1/jobs/${encodeURIComponent(id)}`);
    onUpdate(job);
    if (!["queued", "running"].includes(job.status)) return job;
    if (signal?.aborted) return job;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** The message of a failed job's error (the API error fields, kept on the job), or null. */
export function jobError(job) {
  if (!job.error) return null;
  return job.error.error?.message || job.error.message || JSON.stringify(job.error);
}

/** A progress line for a job: status, bar, message. */
export function jobProgress() {
  const status = h("span", { class: "job-status" });
  const bar = h("progress", { max: 1, value: 0, "aria-label": "Job progress" });
  const message = h("span", { class: "muted job-message" });
  const element = h("div", { class: "actions", "aria-live": "polite" }, status, bar, message);
  return {
    element,
    update(job) {
      status.textContent = job.status;
      bar.value = job.progress;
      message.textContent = jobError(job) || job.message || "";
    },
  };
}
