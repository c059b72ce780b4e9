"""nginx as the suite runs it beside castedge: one configuration, three jobs.

One nginx serves, on one port, what each scenario asks of castedge:

* the media folder from disk (``sendfile on``, ``open_file_cache``, keep-alive raised):
  what the edge serves through signed URLs, nginx serves without a token check;
* ``/podcast/`` as a caching proxy (``proxy_cache`` with ``proxy_cache_lock``) in front
  of the same shaped S3 the origin pulls from: the cold-cache storm's comparison;
* ``/v/`` as a fixed ``return 302`` (no geo lookup, no grant, no signing): the floor
  of answering a redirect at all, beside the locator's whole job.

Its access log goes to a file in the combined format, as castedge's does, with the
cache status of the proxied requests after it, from which the hit ratio is counted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import harness
from harness import HOST, Server

CONF = """\
{user}worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format bench '$remote_addr - $remote_user [$time_local] "$request" $status '
                     '$body_bytes_sent "$http_referer" "$http_user_agent" '
                     '$upstream_cache_status';
    access_log {dir}/access.log bench;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    # castedge never closes a keep-alive connection after N requests; nginx's default
    # of 1000 would make wrk reconnect and charge nginx for handshakes castedge skips.
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    types {{ audio/mpeg mp3; video/mp4 mp4; video/mp2t ts;
             application/vnd.apple.mpegurl m3u8; }}
    default_type application/octet-stream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=podcast:10m max_size=10g
                     inactive=1h use_temp_path=off;
    server {{
        listen {host}:{port}{reuseport};
        root {root};
        location /podcast/ {{
            proxy_pass {upstream}/{bucket}/podcast/;
            proxy_http_version 1.1;
            proxy_cache podcast;
            proxy_cache_valid 200 1h;
            # One fill per object: the others wait for it (castedge's single flight),
            # as long as a fill at the shaped rate can take, not nginx's default 5 s
            # after which each waiter would fetch the object for itself.
            proxy_cache_lock on;
            proxy_cache_lock_timeout {lock_s}s;
            proxy_cache_lock_age {lock_s}s;
        }}
        location /v/ {{
            return 302 http://{host}:{port}/s/fixed-token/courses/bench/hls/index.m3u8;
        }}
    }}
}}
"""


def start(
    workdir: Path,
    root: Path,
    cpu: int | None,
    servers: list[Server],
    *,
    workers: int,
    upstream: str,
    bucket: str,
    lock_s: int,
) -> Server:
    """nginx serving ``root``, proxying ``/podcast/`` to ``upstream``; ready to serve."""
    conf_dir = workdir / "nginx"
    conf_dir.mkdir()
    port = harness.free_port()
    # A master started as root switches its workers to "nobody", who could not read
    # a root-owned temporary directory; keep them root (loopback only, for a benchmark).
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = conf_dir / "nginx.conf"
    conf.write_text(
        CONF.format(
            user=user,
            workers=workers,
            dir=conf_dir,
            host=HOST,
            port=port,
            reuseport=" reuseport" if workers > 1 else "",
            root=root,
            upstream=upstream,
            bucket=bucket,
            lock_s=lock_s,
        )
    )
    log_path = conf_dir / "stderr.log"
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [*harness.pinned(cpu), harness.nginx_command(), "-p", str(conf_dir), "-c", str(conf)]
            + ["-e", str(log_path), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    server = Server(
        "nginx", proc, f"http://{HOST}:{port}", log_path, children_serve=True, workers=workers
    )
    servers.append(server)
    harness.wait_listening(server, port)
    return server


def access_log(server: Server) -> Path:
    return server.log.parent / "access.log"


def cache_statuses(server: Server, since: int = 0) -> tuple[dict[str, int], int]:
    """Counts of ``$upstream_cache_status`` in the access log from byte ``since`` on,
    and the log's size now (the next call's ``since``)."""
    path = access_log(server)
    counts: dict[str, int] = {}
    with open(path, "rb") as f:
        f.seek(since)
        data = f.read()
    for line in data.splitlines():
        status = line.rsplit(b" ", 1)[-1].decode(errors="replace")
        if status != "-":
            counts[status] = counts.get(status, 0) + 1
    return counts, since + len(data)
