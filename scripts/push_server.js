// A Node.js `net` push server for zerowin's gallery: to each client it writes the
// 2014 post's 13-byte message, "Hello World!\0", for ever. With --drain it stops when
// socket.write() returns false and goes on at the 'drain' event, as Node's docs ask:
// a slow reader slows it and its memory stays flat. Without it, it writes on every
// turn of the event loop whatever write() returns: Node keeps what the socket does
// not take in the socket's buffer, without bound, and the process grows with the
// slow reader's backlog. What the client sends is read and dropped.
// Usage: node push_server.js HOST PORT [--drain]
'use strict';
const net = require('net');
const [host, port] = [process.argv[2], Number(process.argv[3])];
const drain = process.argv.slice(4).includes('--drain');
const batch = Buffer.alloc(1300, 'Hello World!\0');

const server = net.createServer((socket) => {
  socket.on('data', () => {});
  socket.on('error', () => {});
  let open = true;
  socket.on('close', () => { open = false; });
  const pump = () => {
    while (open) {
      const more = socket.write(batch);
      if (!more && drain) {
        socket.once('drain', pump);
        return;
      }
      if (!drain) {
        setImmediate(pump);
        return;
      }
    }
  };
  pump();
});
server.listen(port, host, () => console.log(`listening on ${host}:${port} drain=${drain}`));
process.on('SIGTERM', () => process.exit(0));
