// Sends the file requests of OpenAI's 2026 audio API with the official `openai` Node client and
// prints one JSON line per request: {name, result} or {name, error: {status, class, body}}.
// Usage: node audio_requests.mjs BASE_URL REQUESTS_FILE
// REQUESTS_FILE (JSON) maps each name to {endpoint: "transcriptions" | "translations", file, params}.
import { createReadStream, readFileSync } from "node:fs";
import OpenAI from "openai";

const [baseURL, requestsFile] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });

for (const [name, { endpoint, file, params }] of Object.entries(JSON.parse(readFileSync(requestsFile, "utf8")))) {
  try {
    const answer = await client.audio[endpoint].create({ file: createReadStream(file), ...params });
    if (params.stream) {
      const events = [];
      for await (const event of answer) events.push(event);
      console.log(JSON.stringify({ name, result: events }));
    } else {
      console.log(JSON.stringify({ name, result: answer }));
    }
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    console.log(JSON.stringify({ name, error: { status: err.status, class: err.constructor.name, body: err.error } }));
  }
}
