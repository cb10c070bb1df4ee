"""The cloud stand-ins, run in the netns bench's internet box.

    python -m hil.netns.cloud DIR RESOLVER_IP

- a DNS server on RESOLVER_IP:53 (UDP) that answers every A query with the stand-in
  address of the name (`hil.sim.phone.server_ip`, in TEST-NET-2 198.51.100.0/24), so the
  catalog's names (flysafe-api.dji.com, statistical-report.djiservice.org, ...) resolve
  as they do on the internet, and every AAAA query with its IPv6 stand-in
  (`server_ip6`); other query types get an empty answer. On a dual-stack bench (the box
  has RESOLVER_IP6) it answers on that address too, and TLS listens on both families;
- a TLS server on port 443 of every stand-in address that accepts the ClientHello for
  any server name (its certificate, signed by the bench's throwaway CA in DIR, is made for
  the name the ClientHello's SNI asks for), reads one request `POST` with its upload and
  answers with the download volume the request asks for (`X-Hil-Reply: BYTES`).

Each lookup and session is appended to DIR/cloud-seen.jsonl (what really reached the
internet); "ready" is printed once both servers listen; it stops when stdin closes.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

from hil.capture.dns import DnsFormatError, parse_message
from hil.netns.pki import LeafMaker
from hil.sim.packets import dns_response
from hil.sim.phone import RESOLVER_IP6, server_ip, server_ip6

log = logging.getLogger("hil.netns.cloud")
TYPE_A, TYPE_AAAA = 1, 28
MAX_HEADER = 16_384


class Cloud:
    def __init__(self, dir: Path, resolver_ip: str):
        self.dir = dir
        self.resolver_ip = resolver_ip
        self.leaves = LeafMaker(dir / "ca.pem", dir / "ca.key")
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._seen = open(dir / "cloud-seen.jsonl", "a", buffering=1)

    def seen(self, **event) -> None:
        event["t"] = time.time()
        with self._lock:
            self._seen.write(json.dumps(event) + "\n")

    # -- DNS ----------------------------------------------------------------------------
    def serve_dns(self, sock: socket.socket) -> None:
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                msg = parse_message(data)
            except DnsFormatError:
                continue
            if msg.is_response or not msg.questions:
                continue
            qname, qtype = msg.questions[0]
            addresses = ([server_ip(qname)] if qtype == TYPE_A else
                         [server_ip6(qname)] if qtype == TYPE_AAAA else [])
            sock.sendto(dns_response(msg.id, qname, addresses, qtype=qtype), peer)
            self.seen(kind="dns", client=peer[0], name=qname, qtype=qtype, answer=addresses)

    # -- TLS ----------------------------------------------------------------------------
    def context_for(self, name: str) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(name)
            if ctx is None:
                path = self.dir / "certs" / f"{name}.pem"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(self.leaves.chain_pem(name))
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(path)
                self._contexts[name] = ctx
            return ctx

    def _sni(self, sslsock, server_name, ctx) -> None:
        sslsock.hil_sni = server_name
        if server_name:
            sslsock.context = self.context_for(server_name)

    def serve_tls(self, listener: socket.socket) -> None:
        base = self.context_for("stand-in.invalid")
        base.sni_callback = self._sni
        while True:
            conn, peer = listener.accept()
            threading.Thread(target=self._session, args=(base, conn, peer),
                             daemon=True).start()

    def _session(self, base: ssl.SSLContext, conn: socket.socket, peer) -> None:
        conn.settimeout(15)
        server = conn.getsockname()[0]
        try:
            tls = base.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.seen(kind="tls-failed", client=peer[0], server=server, error=str(e))
            conn.close()
            return
        name = getattr(tls, "hil_sni", None)
        up = down = 0
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < MAX_HEADER:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                head += chunk
            header, _, body = head.partition(b"\r\n\r\n")
            fields = {}
            for line in header.decode(errors="replace").split("\r\n")[1:]:
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            length = int(fields.get("content-length", "0"))
            reply = int(fields.get("x-hil-reply", "0"))
            up = len(body)
            while up < length:
                chunk = tls.recv(min(65536, length - up))
                if not chunk:
                    break
                up += len(chunk)
            tls.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {reply}\r\nConnection: close\r\n"
                        "\r\n".encode() + bytes(reply))
            down = reply
            try:
                tls.unwrap()
            except (OSError, ssl.SSLError, ValueError):
                pass
        except (OSError, ssl.SSLError, ValueError) as e:
            self.seen(kind="tls-error", client=peer[0], server=server, sni=name, error=str(e))
        finally:
            tls.close()
        self.seen(kind="tls", client=peer[0], server=server, sni=name, up=up, down=down)


def _ipv6_text(hex32: str) -> str:
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hex32))


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s cloud %(levelname)s %(message)s")
    dir, resolver_ip = Path(sys.argv[1]), sys.argv[2]
    cloud = Cloud(dir, resolver_ip)
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((resolver_ip, 53))
    ipv6 = socket.has_ipv6 and Path("/proc/net/if_inet6").exists() \
        and RESOLVER_IP6 in {_ipv6_text(line.split()[0]) for line in
                             Path("/proc/net/if_inet6").read_text().splitlines()}
    if ipv6:  # a dual-stack bench: the resolver and every stand-in answer over IPv6 too
        dns6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        dns6.bind((RESOLVER_IP6, 53))
        threading.Thread(target=cloud.serve_dns, args=(dns6,), daemon=True).start()
        tls = socket.create_server(("::", 443), family=socket.AF_INET6, backlog=128,
                                   dualstack_ipv6=True)
    else:
        tls = socket.create_server(("0.0.0.0", 443), backlog=128)
    threading.Thread(target=cloud.serve_dns, args=(dns,), daemon=True).start()
    threading.Thread(target=cloud.serve_tls, args=(tls,), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()  # until the world closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(main())
