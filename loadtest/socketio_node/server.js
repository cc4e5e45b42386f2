"use strict";
// The Socket.IO baseline of the load-test harness: what the raw relay does
// (loadtest/baseline_relay.py), in Socket.IO 4 on Node, so the same scenarios measure both.
//
//   node server.js --host 127.0.0.1 --port P [--redis URL] [--ping-interval MS --ping-timeout MS]
//
// A client connects to /socket.io/?EIO=4&transport=websocket&user=U[&groups=g1,g2] (WebSocket
// only, no long-polling) and joins a room for its user and one per group. It emits
//   "send" {to: U, body: B}     -> every socket of user U gets "message" {from, body}
//   "send" {group: G, body: B}  -> every other socket in group G gets "message" {from, body}
// Nothing is stored, nothing is acknowledged. A connection without a user is refused with a
// CONNECT_ERROR. GET /metrics answers the two figures the harness reads from every target, in
// the Prometheus text format: process_cpu_seconds_total and process_resident_memory_bytes.
//
// With --redis, rooms span every server on that Redis through Socket.IO's Redis adapter
// (@socket.io/redis-adapter), as a Socket.IO cluster runs: an emit to a room is published
// once, and each server delivers it to its own sockets in the room.

const http = require("node:http");
const { parseArgs } = require("node:util");
const { Server } = require("socket.io");

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9766" },
    redis: { type: "string" },
    // Engine.IO's heartbeat; Socket.IO's defaults unless a test needs it faster.
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
  },
});

function metrics() {
  const cpu = process.cpuUsage(); // microseconds, every thread of the process
  return [
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    "# HELP process_resident_memory_bytes Resident memory size in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    "",
  ].join("\n");
}

const httpServer = http.createServer((request, response) => {
  // Socket.IO answers its own path before this handler is called.
  if (request.method === "GET" && request.url === "/metrics") {
    response.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    response.end(metrics());
  } else {
    response.writeHead(404, { "Content-Type": "text/plain" });
    response.end("not found\n");
  }
});

const io = new Server(httpServer, {
  transports: ["websocket"], // as the relay: one WebSocket per client, no long-polling
  serveClient: false,
  perMessageDeflate: false, // compression off, as the relay and the node in the harness
  maxHttpBufferSize: 1 << 16, // the relay's largest frame
  pingInterval: Number(args["ping-interval"]),
  pingTimeout: Number(args["ping-timeout"]),
});

io.use((socket, next) => {
  const { user } = socket.handshake.query;
  if (typeof user !== "string" || user === "") {
    next(new Error("user is required"));
  } else {
    next();
  }
});

io.on("connection", (socket) => {
  const { user, groups } = socket.handshake.query;
  const rooms = [`u:${user}`];
  if (typeof groups === "string") {
    for (const group of groups.split(",")) {
      if (group !== "") rooms.push(`g:${group}`);
    }
  }
  socket.join(rooms);
  socket.on("send", (frame) => {
    if (frame === null || typeof frame !== "object" || typeof frame.body !== "string") return;
    const out = { from: user, body: frame.body };
    // socket.to(): every socket in the room but this one, encoded once for all of them.
    if (typeof frame.to === "string") {
      socket.to(`u:${frame.to}`).emit("message", out);
    } else if (typeof frame.group === "string") {
      socket.to(`g:${frame.group}`).emit("message", out);
    }
  });
});

const redisClients = [];

function stop() {
  io.close(() => {
    Promise.allSettled(redisClients.map((client) => client.quit())).then(() => process.exit(0));
  });
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

async function main() {
  if (args.redis !== undefined) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: args.redis });
    const sub = pub.duplicate();
    for (const client of [pub, sub]) {
      client.on("error", (error) => console.error(`redis: ${error.message}`));
      redisClients.push(client);
    }
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  httpServer.listen({ host: args.host, port: Number(args.port), backlog: 4096 }, () => {
    const over = args.redis === undefined ? "" : ` over ${args.redis}`;
    console.log(`socketio serving ws://${args.host}:${args.port}/socket.io/${over}`);
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
