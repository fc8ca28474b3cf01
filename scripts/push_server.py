#!/usr/bin/env python3
"""An asyncio push server for zerowin's gallery: to each client it writes the 2014
post's 13-byte message, "Hello World!\\0", for ever. With --drain it awaits
writer.drain() after each batch, as asyncio's docs ask: the coroutine blocks while
the transport's buffer is above its high-water mark, so a slow reader slows it and
its memory stays flat. Without it, it only calls writer.write(): asyncio keeps
whatever the socket does not take in the transport's buffer, without bound, and the
process grows with the slow reader's backlog. What the client sends is read and
dropped. Usage: push_server.py HOST PORT [--drain]."""
import asyncio
import sys

MESSAGE = b"Hello World!\0"
BATCH = MESSAGE * 100


async def reader(r):
    while await r.read(65536):
        pass


async def serve(r, w, drain):
    asyncio.ensure_future(reader(r))
    try:
        while not w.is_closing():
            w.write(BATCH)
            if drain:
                await w.drain()
            else:
                # Yield to the loop so it keeps accepting and reading, never waiting
                # for the buffer to empty.
                await asyncio.sleep(0)
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


async def main():
    host, port, drain = sys.argv[1], int(sys.argv[2]), "--drain" in sys.argv[3:]
    server = await asyncio.start_server(lambda r, w: serve(r, w, drain), host, port)
    print(f"listening on {host}:{port} drain={drain}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
