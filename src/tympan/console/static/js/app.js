// The console shell: the API key field, and a hash router that shows one page at a time.
import { getApiKey, setApiKey } from "./api.js";
import { clearError, h, showError } from "./ui.js";

const PAGES = ["transcribe", "live", "speakers", "speech", "enhance", "classifiers", "music", "models", "jobs"];
let leavePage = null; // the shown page's cleanup (stops players, microphones, polling)

async function showPage(event) {
  const name = location.hash.replace(/^#\/?/, "") || "transcribe";
  const page = PAGES.includes(name) ? name : "transcribe";
  if (leavePage) leavePage();
  leavePage = null;
  clearError();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${page}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  main.dataset.page = page;
  try {
    const module = await import(`./pages/${page}.js`);
    document.title = `${module.title} · Tympan`;
    main.append(h("h1", {}, module.title));
    leavePage = (await module.render(main)) || null;
  } catch (error) {
    showError(error);
  }
  main.dataset.ready = page;
  if (event?.type === "hashchange") main.focus(); // keyboard and screen reader users land on the page
}

function setUpKeyField() {
  const input = document.getElementById("api-key");
  input.value = getApiKey();
  input.addEventListener("change", () => setApiKey(input.value.trim()));
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    showPage();
  });
}

setUpKeyField();
window.addEventListener("hashchange", showPage);
showPage();
