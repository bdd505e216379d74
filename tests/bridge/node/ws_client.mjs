// Reads `kairos bridge foxglove` with the official Foxglove WebSocket client
// (@foxglove/ws-protocol): subscribes to every advertised channel and prints, as JSON lines,
// first {"advertised": [channels]}, then one {"topic", "log_time", "data"} per message, its
// JSON payload decoded; last {"done": count}.  It stops once every main stream heard (a
// topic without "/") spans SECONDS of log time (sample time: a bridge slowed by a busy
// machine delivers late, not less) and, if a line {"topic": seq, ...} came on stdin, each of
// those topics has delivered that seq; or after TIMEOUT seconds.
// usage: node ws_client.mjs ws://127.0.0.1:PORT SECONDS TIMEOUT
import wsProtocol from "@foxglove/ws-protocol";
import WebSocket from "ws";

const { FoxgloveClient } = wsProtocol;

const [url, seconds, timeout] = process.argv.slice(2);
const wanted = BigInt(Math.round(Number(seconds) * 1e9));
const spans = new Map(); // main topic -> [first, last] log time
let targets = null; // topic -> seq to wait for (from stdin)
const reached = new Set();
let input = "";
process.stdin.on("data", (chunk) => {
  input += chunk;
  if (input.includes("\n")) targets = new Map(Object.entries(JSON.parse(input)));
});
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
const finish = () => {
  out({ done: count });
  client.close();
  process.exit(0);
};

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
      timer = setTimeout(finish, Number(timeout) * 1000);
    }, 200);
    timer = 0;
  }
});
client.on("message", ({ subscriptionId, timestamp, data }) => {
  if (!timer) return; // before the advertisement was printed
  count += 1;
  const text = decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const topic = topicOf.get(subscriptionId);
  const body = JSON.parse(text);
  out({ topic, log_time: timestamp.toString(), data: body });
  if (targets?.has(topic) && body.wire.seq >= targets.get(topic)) reached.add(topic);
  if (!topic.includes("/")) {
    const span = spans.get(topic) ?? [timestamp, timestamp];
    span[1] = timestamp;
    spans.set(topic, span);
  }
  const long = [...spans.values()].every(([first, last]) => last - first >= wanted);
  if (long && targets !== null && reached.size === targets.size) finish();
});
