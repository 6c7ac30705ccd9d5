// Models: every servable model, which are loaded and the memory they hold; load or unload one.
import { getJSON, postJSON } from "../api.js";
import { formatBytes, h, onClick, section, table } from "../ui.js";

export const title = "Models";

export async function render(main) {
  const summary = h("p", { "aria-live": "polite" });
  const list = h("div", { class: "table-wrap" });
  const refresh = async () => {
    const [health, models] = await Promise.all([getJSON("/healthz"), getJSON("/v1/models")]);
    summary.textContent = `Tympan ${health.version}: ${health.models_loaded} model(s) loaded, ${formatBytes(health.memory_bytes)} in use.`;
    list.replaceChildren(
      table(
        `${models.data.length} models`,
        ["Model", "Task", "Backend", "Loaded", "Memory", "Size", "Aliases", ""],
        models.data.map((model) => [
          h("span", { title: model.description }, h("strong", {}, model.id), h("br"), h("small", { class: "muted model-description" }, model.description)),
          model.task,
          model.backend,
          model.loaded ? "yes" : "no",
          model.loaded ? formatBytes(model.memory_bytes) : "",
          formatBytes(model.size_bytes),
          model.aliases.join(", "),
          onClick(
            h("button", { type: "button", class: "secondary", "aria-label": `${model.loaded ? "Unload" : "Load"} ${model.id}` }, model.loaded ? "Unload" : "Load"),
            async () => {
              await postJSON(`/v1/models/${encodeURIComponent(model.id)}/${model.loaded ? "unload" : "load"}`);
              await refresh();
            },
          ),
        ]),
      ),
    );
  };
  await refresh();
  main.append(
    section("Service", summary, h("div", { class: "actions" }, onClick(h("button", { type: "button", class: "secondary" }, "Refresh"), refresh))),
    section("Models", list,
      h("p", { class: "muted" }, "Models load on first use and unload when idle (TYMPAN_MODEL_IDLE_TTL_SECONDS) or over the memory budget (TYMPAN_MODEL_MEMORY_BUDGET_MB); Load and Unload do it now (a model serving a request cannot be unloaded).")),
  );
}
