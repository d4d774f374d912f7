#!/usr/bin/env python3
"""A deliberately broken NBD server for tests: negotiates properly (unless
the mode breaks negotiation), then answers the first command wrongly.

usage: hostile_nbd_server.py SOCKET_PATH MODE
modes: badmagic, stall, cookie, hugelength, truncated, badchunk, shortread
"""
import os
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
SIZE = 1 << 20


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def option_reply(conn, option, kind, data=b""):
    conn.sendall(struct.pack(">QIII", REPLY_MAGIC, option, kind, len(data)) + data)


def serve(conn, mode):
    if mode == "badmagic":
        conn.sendall(struct.pack(">QQH", 0x1122334455667788, IHAVEOPT, 3))
        return
    conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3))
    if mode == "stall":
        recv_exact(conn, 4)
        recv_exact(conn, 16)  # take the first option, never answer
        conn.recv(1)
        return
    recv_exact(conn, 4)
    while True:
        _magic, option, length = struct.unpack(">QII", recv_exact(conn, 16))
        recv_exact(conn, length)
        if option == 8:  # structured reply
            option_reply(conn, option, 1)
        elif option == 7:  # go
            option_reply(conn, option, 3, struct.pack(">HQH", 0, SIZE, 1 | 2))
            option_reply(conn, option, 1)
            break
        else:
            option_reply(conn, option, (1 << 31) | 1)
    _magic, _flags, _kind, cookie, offset, length = struct.unpack(">IHHQQI", recv_exact(conn, 28))
    if mode == "cookie":
        conn.sendall(struct.pack(">IIQ", 0x67446698, 0, cookie + 999))
    elif mode == "hugelength":
        conn.sendall(struct.pack(">IHHQI", 0x668E33EF, 1, 1, cookie, 0xFFFFFFF0))
    elif mode == "truncated":
        conn.sendall(struct.pack(">IIQ", 0x67446698, 0, cookie) + b"x" * 10)
    elif mode == "badchunk":
        # Data chunk claiming to lie outside the request.
        payload = struct.pack(">Q", offset + SIZE) + b"y" * 16
        conn.sendall(struct.pack(">IHHQI", 0x668E33EF, 1, 1, cookie, len(payload)) + payload)
    elif mode == "shortread":
        # Structured read that ends (DONE) without covering the request.
        payload = struct.pack(">Q", offset) + b"z" * 16
        conn.sendall(struct.pack(">IHHQI", 0x668E33EF, 1, 1, cookie, len(payload)) + payload)
    # Then hang up.


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    conn, _ = server.accept()
    try:
        serve(conn, mode)
    except EOFError:
        pass
    finally:
        conn.close()
        server.close()


if __name__ == "__main__":
    main()
