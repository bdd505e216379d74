// Reads `kairos bridge foxglove` with the official Foxglove WebSocket client
// (@foxglove/ws-protocol): subscribes to every advertised channel for SECONDS and prints,
// as JSON lines, first {"advertised": [channels]}, then one {"topic", "log_time", "data"}
// per message, its JSON payload decoded; last {"done": count}.
// usage: node ws_client.mjs ws://127.0.0.1:PORT SECONDS
import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

const { FoxgloveClient } = wsProtocol;

const [url, seconds] = process.argv.slice(2);
// foxglove-sdk 0.30 servers negotiate the protocol's successor name, "foxglove.sdk.v1", and
// answer 400 to "foxglove.websocket.v1" alone; the messages are the same, so the client
// offers both (the server picks the one it speaks)
const client = new FoxgloveClient({
  ws: new WebSocket(url, ["foxglove.sdk.v1", FoxgloveClient.SUPPORTED_SUBPROTOCOL]),
});
const channels = new Map();
const topicOf = new Map();
const decoder = new TextDecoder();
let count = 0;
let timer = null;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

client.on("error", (err) => {
  console.error(`client error: ${err}`);
  process.exit(2);
});
client.on("advertise", (advertised) => {
  for (const channel of advertised) {
    channels.set(channel.id, channel);
    topicOf.set(client.subscribe(channel.id), channel.topic);
  }
  if (timer === null) {
    // the server advertises every channel at once, on connection: start the clock then
    setTimeout(() => {
      out({ advertised: [...channels.values()] });
      timer = setTimeout(() => {
        out({ done: count });
        client.close();
        process.exit(0);
      }, Number(seconds) * 1000);
    }, 200);
    timer = 0;
  }
});
client.on("message", ({ subscriptionId, timestamp, data }) => {
  if (!timer) return; // before the advertisement was printed
  count += 1;
  const text = decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  out({ topic: topicOf.get(subscriptionId), log_time: timestamp.toString(), data: JSON.parse(text) });
});
