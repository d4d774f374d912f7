#!/usr/bin/env python3
"""A deliberately broken NBD server for tests: negotiates properly (unless
the mode breaks negotiation), then answers the first command wrongly.

usage: hostile_nbd_server.py SOCKET_PATH MODE
modes: badmagic, stall, cookie, hugelength, truncated, badchunk, shortread,
       fuzz:SEED: serves connections until killed, each negotiated with a random
       (sometimes malformed) export size, flags and meta contexts, each command
       answered with random structured chunks or simple replies, shaped like the
       real ones or not; after a reply that does not end the command it waits
       a second for the next command, then hangs up (a client may rightly wait
       for the rest of a reply; it must never wait past a closed socket).
"""
import os
import random
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


CHUNK_TYPES = [0, 1, 2, 5, (1 << 15) + 1, (1 << 15) + 2, 3, 0x7FFF, 0xFFFF]


def random_payload(rng, kind, offset, length, context_id):
    """A payload of the chunk type: right (half the time), shaped right, or not."""
    if rng.random() < 0.5:
        if kind == 1:
            return struct.pack(">Q", offset) + bytes(length)
        if kind == 2:
            return struct.pack(">QI", offset, length)
        if kind == 5:
            return struct.pack(">III", context_id, length, rng.randrange(0, 4))
    shaped = rng.random() < 0.7
    start = rng.choice([offset, offset + rng.randrange(0, max(1, length)), offset + length, 0, (1 << 64) - 1 - rng.randrange(4096)])
    if kind == 1 and shaped:
        return struct.pack(">Q", start) + bytes(rng.randrange(0, min(length, 70000) + 2))
    if kind == 2 and shaped:
        return struct.pack(">QI", start, rng.choice([0, 1, length, length + 1, 0xFFFFFFFF, rng.randrange(0, length + 1)]))
    if kind == 5 and shaped:
        count = rng.randrange(0, 5)
        descriptors = b"".join(struct.pack(">II", rng.choice([0, 1, 512, length, 0xFFFFFFFF, rng.randrange(0, length + 1)]), rng.randrange(0, 4))
                               for _ in range(count))
        return struct.pack(">I", rng.choice([1, 0, 7, 0xFFFFFFFF])) + descriptors
    if kind in ((1 << 15) + 1, (1 << 15) + 2) and shaped:
        message = b"m" * rng.choice([0, 3, 5000])
        extra = struct.pack(">Q", start) if kind == (1 << 15) + 2 else b""
        return struct.pack(">IH", rng.choice([0, 5, 22, 0xFFFFFFFF]), rng.choice([len(message), len(message) + 9, 0xFFFF])) + message + extra
    return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 7, 8, 12, 20, 100])))


def fuzz_reply(conn, rng, command, cookie, offset, length, context_id):
    """One random answer to a command; True when it ended the command."""
    if rng.random() < 0.7:  # right, so that later commands and their cookies are exercised too
        if command == 0:
            kind, payload = 1, struct.pack(">Q", offset) + bytes(length)
        elif command == 7:
            kind, payload = 5, struct.pack(">III", context_id, length, 0)
        else:
            kind, payload = 0, b""
        conn.sendall(struct.pack(">IHHQI", 0x668E33EF, 1, kind, cookie, len(payload)) + payload)
        return True
    if rng.random() < 0.2:
        error = rng.choice([0, 0, 5, 22, 0xFFFFFFFF])
        data = bytes(length) if error == 0 and rng.random() < 0.5 else b""
        conn.sendall(struct.pack(">IIQ", 0x67446698, error, cookie if rng.random() < 0.9 else rng.getrandbits(64)) + data)
        return True
    for index in range(rng.randrange(1, 5)):
        kind = rng.choice(CHUNK_TYPES)
        payload = random_payload(rng, kind, offset, length, context_id)
        done = rng.random() < 0.4 or index == 3
        flags = (1 if done else 0) | (rng.getrandbits(16) & ~1 if rng.random() < 0.05 else 0)
        declared = len(payload) if rng.random() < 0.9 else rng.choice([0, len(payload) + 1, 0xFFFFFFFF])
        header = struct.pack(">IHHQI", 0x668E33EF, flags, kind, cookie if rng.random() < 0.95 else rng.getrandbits(64), declared)
        conn.sendall(header + payload)
        if done:
            return True
    return False


def fuzz(conn, rng):
    conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, 3))
    recv_exact(conn, 4)
    contexts = {}
    while True:
        _magic, option, length = struct.unpack(">QII", recv_exact(conn, 16))
        data = recv_exact(conn, length)
        if option == 8:
            option_reply(conn, option, 1)
        elif option == 10:  # set meta context: answer each asked name with an id, sometimes a wrong one
            count = struct.unpack(">I", data[4 + struct.unpack(">I", data[:4])[0]:][:4])[0]
            position = 8 + struct.unpack(">I", data[:4])[0]
            for _ in range(count):
                size = struct.unpack(">I", data[position:position + 4])[0]
                name = data[position + 4:position + 4 + size]
                position += 4 + size
                context_id = rng.choice([1, 1, 1, 2, 0, 0xFFFFFFFF])
                contexts[context_id] = name
                option_reply(conn, option, 4, struct.pack(">I", context_id) + (name if rng.random() < 0.9 else b"x" * rng.randrange(0, 300)))
            option_reply(conn, option, 1)
        elif option == 7:
            size = rng.choice([SIZE, SIZE, SIZE, 0, 1, 511, (1 << 63) - 1, (1 << 64) - 1])
            flags = 1 | 2 | (rng.getrandbits(16) if rng.random() < 0.2 else 0)
            option_reply(conn, option, 3, struct.pack(">HQH", 0, size, flags & 0xFFFF))
            if rng.random() < 0.3:
                option_reply(conn, option, 3, struct.pack(">HIII", 3, rng.choice([1, 512, 3, 0]), rng.choice([4096, 1, 0]), rng.choice([1 << 20, 1, 0])))
            option_reply(conn, option, 1 if rng.random() < 0.95 else rng.choice([2, 0x7FFF]))
            break
        else:
            option_reply(conn, option, (1 << 31) | 1)
    conn.settimeout(1)
    while True:
        _magic, _flags, kind, cookie, offset, length = struct.unpack(">IHHQQI", recv_exact(conn, 28))
        if kind == 2:  # disconnect
            return
        if kind == 1:  # a write's payload
            recv_exact(conn, length)
        fuzz_reply(conn, rng, kind, cookie, offset, length, next(iter(contexts), 1))


def main():
    path, mode = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    if mode.startswith("fuzz:"):
        rng = random.Random(int(mode.split(":")[1]))
        server.settimeout(30)  # no client for 30 s: the test is over (or died) and stops no one
        while True:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                return
            conn.settimeout(None)
            try:
                fuzz(conn, rng)
            except (EOFError, OSError, struct.error, IndexError):
                pass
            finally:
                conn.close()
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
