// Streams 24 kHz PCM16 to a Tympan Realtime transcription session with the official `openai`
// Node client and prints every server event as one JSON line, until `turns` turns completed.
// Usage: node realtime_transcribe.mjs BASE_URL PCM_FILE TURNS
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [baseURL, pcmFile, turns] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused" });
const rt = new OpenAIRealtimeWS({ model: "gpt-4o-transcribe" }, client);
let completed = 0;

rt.on("event", (event) => {
  console.log(JSON.stringify(event));
  if (event.type === "conversation.item.input_audio_transcription.completed") {
    completed += 1;
    if (completed === Number(turns)) rt.close();
  }
});
rt.on("error", (err) => {
  console.error(err.message);
  process.exitCode = 1;
  rt.close();
});
rt.socket.on("open", async () => {
  rt.send({
    type: "session.update",
    session: {
      type: "transcription",
      audio: {
        input: {
          format: { type: "audio/pcm", rate: 24000 },
          transcription: { model: "gpt-4o-transcribe", language: "en" },
          turn_detection: { type: "server_vad", silence_duration_ms: 500 },
        },
      },
    },
  });
  const pcm = readFileSync(pcmFile);
  for (let start = 0; start < pcm.length; start += 9600) { // 200 ms chunks, 4x real time
    rt.send({ type: "input_audio_buffer.append", audio: pcm.subarray(start, start + 9600).toString("base64") });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
setTimeout(() => { console.error("timed out"); process.exit(2); }, 120_000).unref();
