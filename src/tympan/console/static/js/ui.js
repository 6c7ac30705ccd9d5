// Small DOM helpers every page shares: element building, the error banner, forms, files.

/** An element: `h("p", {class: "x", onclick: fn}, "text", child, ...)`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** Show the API's error (message, status, field) in the page's alert banner. */
export function showError(error) {
  const banner = document.getElementById("error");
  const detail = [];
  if (error.status) detail.push(`HTTP ${error.status}`);
  if (error.type) detail.push(error.type);
  if (error.param) detail.push(`field: ${error.param}`);
  banner.replaceChildren(
    h("strong", {}, "Error: "),
    h("span", { class: "error-message" }, error.message || String(error)),
    detail.length ? h("span", { class: "error-detail" }, ` (${detail.join(", ")})`) : null,
    h("button", { type: "button", class: "link", onclick: clearError }, "Dismiss"),
  );
  banner.hidden = false;
}

/** Hide the error banner. */
export function clearError() {
  const banner = document.getElementById("error");
  banner.hidden = true;
  banner.replaceChildren();
}

/** Run `action` for a form: errors go to the banner, the submit button waits meanwhile. */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button[type=submit]");
    clearError();
    buttons.forEach((button) => {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    });
    try {
      await action(new FormData(form), event.submitter);
    } catch (error) {
      showError(error);
    } finally {
      buttons.forEach((button) => {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      });
    }
  });
  return form;
}

/** Run `action` on click with the same error handling as onSubmit. */
export function onClick(button, action) {
  button.addEventListener("click", async () => {
    clearError();
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

let fieldCount = 0;

/** A labelled field: `field("Name", h("input", {...}))` with a generated id. */
export function field(label, control, hint) {
  control.id ||= `field-${++fieldCount}`;
  const hintElement = hint ? h("small", { id: `${control.id}-hint` }, hint) : null;
  if (hintElement) control.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintElement);
}

/** A file input that also takes files dropped on it (the drop zone is its label). */
export function fileDrop({ name, label, accept = "audio/*,video/*", multiple = false, required = true }) {
  const input = h("input", { type: "file", name, accept, multiple, required, class: "file-input" });
  input.id = `file-${++fieldCount}`;
  const chosen = h("span", { class: "file-chosen", "aria-live": "polite" }, "No file chosen");
  const zone = h(
    "label",
    { class: "drop-zone", for: input.id },
    h("span", { class: "drop-title" }, label),
    h("span", { class: "drop-hint" }, multiple ? "Choose or drop files" : "Choose or drop a file"),
    chosen,
  );
  const showChosen = () => {
    const names = [...input.files].map((file) => file.name);
    chosen.textContent = names.length ? names.join(", ") : "No file chosen";
  };
  input.addEventListener("change", showChosen);
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    input.files = event.dataTransfer.files;
    showChosen();
  });
  return h("div", { class: "field" }, input, zone);
}

/** `m:ss.s` (or `h:mm:ss`) for a time in seconds. */
export function formatTime(seconds, decimals = 1) {
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = (seconds % 60).toFixed(decimals).padStart(decimals ? decimals + 3 : 2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** Bytes as "12.3 MB". */
export function formatBytes(bytes) {
  if (!bytes) return "0 B";
  const units = ["B", "kB", "MB", "GB"];
  const power = Math.min(units.length - 1, Math.floor(Math.log(bytes) / Math.log(1000)));
  return `${(bytes / 1000 ** power).toFixed(power ? 1 : 0)} ${units[power]}`;
}

/** A link that downloads `blob` as `filename`. */
export function downloadLink(blob, filename, text) {
  return h("a", { class: "button", href: URL.createObjectURL(blob), download: filename }, text);
}

/** A table from column headers and rows of cells (strings or elements). */
export function table(caption, headers, rows) {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((header) => h("th", { scope: "col" }, header)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
  );
}

/** A stable colour for the n-th speaker (or label). */
export function colourFor(index) {
  const palette = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
  return palette[index % palette.length];
}

/** A section with a heading: the building block of every page. */
export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}
