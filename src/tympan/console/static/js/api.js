// The public HTTP API, as the console calls it: the API key from the tab's session storage,
// and errors turned into ApiError from the service's OpenAI-style body.

const KEY_STORAGE = "tympan.apiKey";

/** The API key of this tab ("" when none). */
export function getApiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

/** Keep `key` for this tab only (an empty key forgets it). */
export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** An error answered by the service: `{error: {message, type, param, code}}` and its status. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type || null;
    this.param = error.param || null;
    this.code = error.code || null;
  }

  /** The ApiError of a failed response, whatever its body. */
  static async from(response) {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && body.error) return new ApiError(response.status, body.error);
    } catch {
      // not JSON: keep the text as the message
    }
    return new ApiError(response.status, { message: text || response.statusText });
  }
}

/** Fetch `path` with the API key; a non-2xx answer throws ApiError. */
export async function request(path, { method = "GET", body, json, signal } = {}) {
  const headers = {};
  const key = getApiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: `The service did not answer: ${error.message}.` });
  }
  if (!response.ok) throw await ApiError.from(response);
  return response;
}

/** GET `path` as JSON. */
export async function getJSON(path) {
  return (await request(path)).json();
}

/** POST `value` as a JSON body; the answer as JSON (null when empty). */
export async function postJSON(path, value) {
  const response = await request(path, { method: "POST", json: value });
  return response.status === 204 ? null : response.json();
}

/** PATCH `path` with `value` as a JSON body; the answer as JSON. */
export async function patchJSON(path, value) {
  return (await request(path, { method: "PATCH", json: value })).json();
}

/** DELETE `path`. */
export async function deleteResource(path) {
  await request(path, { method: "DELETE" });
}

/** POST a multipart form; arrays become repeated fields, empty values are left out. */
export function postForm(path, fields, options = {}) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === undefined || item === null || item === "") continue;
      if (item instanceof Blob && item.name === undefined) form.append(name, item, `${name}.wav`);
      else form.append(name, item instanceof Blob ? item : String(item));
    }
  }
  return request(path, { ...options, method: "POST", body: form });
}

/** Each `data:` event of a server-sent event stream, parsed as JSON, as it arrives. */
export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

/** An object URL of an authorised GET (for <img>/<audio>, which cannot send the key). */
export async function blobURL(path) {
  const blob = await (await request(path)).blob();
  return URL.createObjectURL(blob);
}
