// The microphone: mono float32 samples at a chosen rate (the browser resamples), WAV encoding,
// and a record button. Shared by the Live page and microphone enrollment.
import { h, showError } from "./ui.js";

/** Open the microphone at `sampleRate`; `onSamples(Float32Array)` gets each block. */
export async function openMicrophone(sampleRate, onSamples) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser gives no microphone access here (it needs https or localhost).");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
  });
  const context = new AudioContext({ sampleRate });
  await context.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
  const source = context.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(context, "pcm-capture");
  capture.port.onmessage = (event) => onSamples(event.data);
  source.connect(capture);
  return {
    sampleRate: context.sampleRate,
    async stop() {
      source.disconnect();
      capture.port.onmessage = null;
      stream.getTracks().forEach((track) => track.stop());
      await context.close();
    },
  };
}

/** Join sample blocks into one Float32Array. */
export function joinSamples(blocks) {
  const joined = new Float32Array(blocks.reduce((total, block) => total + block.length, 0));
  let offset = 0;
  for (const block of blocks) {
    joined.set(block, offset);
    offset += block.length;
  }
  return joined;
}

/** Float samples in [-1, 1] as 16-bit little-endian PCM. */
export function toPcm16(samples) {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const clipped = Math.max(-1, Math.min(1, samples[i]));
    pcm[i] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
  }
  return pcm;
}

/** A mono 16-bit WAV file of `samples`. */
export function encodeWav(samples, sampleRate) {
  const pcm = toPcm16(samples);
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, value) => [...value].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + pcm.byteLength, true);
  text(8, "WAVE");
  text(12, "fmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, 1, true); // PCM
  header.setUint16(22, 1, true); // mono
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * 2, true);
  header.setUint16(32, 2, true);
  header.setUint16(34, 16, true);
  text(36, "data");
  header.setUint32(40, pcm.byteLength, true);
  return new Blob([header, pcm], { type: "audio/wav" });
}

/** A toggle button: the first press records, the second hands `onWav(blob)` the take. */
export function recordButton(onWav, sampleRate = 16000) {
  let microphone = null;
  let blocks = [];
  const button = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Record from microphone");
  button.addEventListener("click", async () => {
    try {
      if (!microphone) {
        blocks = [];
        microphone = await openMicrophone(sampleRate, (block) => blocks.push(block));
        button.textContent = "Stop recording";
        button.setAttribute("aria-pressed", "true");
        return;
      }
      const rate = microphone.sampleRate;
      await microphone.stop();
      microphone = null;
      button.textContent = "Record from microphone";
      button.setAttribute("aria-pressed", "false");
      onWav(encodeWav(joinSamples(blocks), rate));
    } catch (error) {
      showError(error);
    }
  });
  return button;
}
