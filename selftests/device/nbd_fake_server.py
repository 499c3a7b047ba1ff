#!/usr/bin/python3
"""A fake NBD server on a unix socket, for t_nbd_junk.sh (the VM only).

  nbd_fake_server.py junk SOCKET         sends junk instead of a handshake
  nbd_fake_server.py badreply SOCKET N   an old-style handshake for an N-byte
                                         export, then junk for every reply

Every connection is served on its own thread until the client closes it.
"""
import os
import socket
import struct
import sys
import threading

REQUEST_MAGIC = 0x25609513
CMD_WRITE, CMD_DISC = 1, 2
CLISERV_MAGIC = 0x00420281861253
FLAG_HAS_FLAGS = 1


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def junk(conn, _size):
    conn.sendall(b"this is not an NBD server, just some bytes\n" * 8)
    while conn.recv(4096):
        pass


def badreply(conn, size):
    conn.sendall(b"NBDMAGIC" + struct.pack(">QQI", CLISERV_MAGIC, size, FLAG_HAS_FLAGS) + bytes(124))
    while True:
        hdr = recv_exact(conn, 28)
        if hdr is None:
            return
        magic, _flags, cmd, handle, _off, length = struct.unpack(">IHHQQI", hdr)
        if magic != REQUEST_MAGIC or cmd == CMD_DISC:
            return
        if cmd == CMD_WRITE and recv_exact(conn, length) is None:
            return
        # a reply with a wrong magic, then a few more bytes of nonsense
        conn.sendall(struct.pack(">IIQ", 0xBADC0FFE, 0, handle) + b"\xff" * 16)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    serve = {"junk": junk, "badreply": badreply}[mode]
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(16)
    while True:
        conn, _ = srv.accept()

        def run(c=conn):
            try:
                serve(c, size)
            except OSError:
                pass
            finally:
                c.close()
        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
