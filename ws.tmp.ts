import WebSocket from "ws";
import { EmofeatServer } from "./src/serve/server.js";
import { decodeAudioFile } from "./src/audio/decode.js";
const s = await EmofeatServer.start({ run: "/tmp/sv/runs/concat", port: 0, predictor: { offline: true }, logLevel: "warn" });
await s.ready;
const parts = await Promise.all(["demo_s1_015", "demo_s1_014", "demo_s1_016"].map((f) => decodeAudioFile(`samples/demo/wav/${f}.wav`)));
const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0)); let o = 0; for (const p of parts) { all.set(p.channelData[0], o); o += p.length; }
console.log("seconds", all.length / 16000);
const ws = new WebSocket(s.url.replace("http", "ws") + "/v1/stream");
const msgs: any[] = [];
await new Promise((r) => ws.on("open", r));
const done = new Promise((r) => ws.on("message", (d) => { const m = JSON.parse(String(d)); msgs.push(m); console.log(JSON.stringify(m).slice(0, 200)); if (m.type === "final") r(0); }));
ws.send(JSON.stringify({ type: "start", sample_rate: 16000, encoding: "float32", text: "I can't believe you did that" }));
for (let i = 0; i < all.length; i += 1600) ws.send(Buffer.from(all.slice(i, i + 1600).buffer));
ws.send(JSON.stringify({ type: "end" }));
await done;
ws.close();
await s.close();
