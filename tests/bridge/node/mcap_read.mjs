// Reads an exported JSON MCAP file with the official TypeScript reader (@mcap/core) and
// prints one JSON object: each channel's topic, encodings and schema, the number of
// messages per topic, every message's payload decoded with JSON.parse (failures counted),
// the first message of each topic, and the metadata records.
// usage: node mcap_read.mjs FILE.mcap
import { readFileSync } from "node:fs";
import { McapStreamReader } from "@mcap/core";
import lz4 from "lz4js";

const reader = new McapStreamReader({
  decompressHandlers: {
    lz4: (data, size) => lz4.decompress(data, Number(size)),
  },
});
reader.append(readFileSync(process.argv[2]));
const schemas = new Map();
const channels = {};
const topicOf = new Map();
const counts = {};
const first = {};
const metadata = [];
const decoder = new TextDecoder();
let undecodable = 0;
for (let record; (record = reader.nextRecord()) !== undefined; ) {
  if (record.type === "Schema") {
    schemas.set(record.id, record);
  } else if (record.type === "Channel") {
    const schema = schemas.get(record.schemaId);
    topicOf.set(record.id, record.topic);
    channels[record.topic] = {
      messageEncoding: record.messageEncoding,
      schemaName: schema.name,
      schemaEncoding: schema.encoding,
      schema: JSON.parse(decoder.decode(schema.data)),
    };
    counts[record.topic] ??= 0; // the summary section repeats every channel
  } else if (record.type === "Message") {
    const topic = topicOf.get(record.channelId);
    try {
      const data = JSON.parse(decoder.decode(record.data));
      first[topic] ??= { log_time: record.logTime.toString(), data };
    } catch {
      undecodable += 1;
    }
    counts[topic] += 1;
  } else if (record.type === "Metadata") {
    // once each: metadata records are not repeated in the summary (only their index)
    metadata.push({ name: record.name, metadata: Object.fromEntries(record.metadata) });
  }
}
process.stdout.write(
  JSON.stringify({ done: reader.done(), channels, counts, first, metadata, undecodable }) + "\n",
);
