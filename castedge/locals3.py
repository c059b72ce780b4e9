"""An S3-compatible server on loopback: moto's server mode, for the demo and the tests.

It is a real HTTP server (werkzeug, threaded) speaking the S3 protocol; clients reach
it through boto3 or plain HTTP like any S3 endpoint. It also counts the requests it
gets, so a test can check "exactly one upstream GET" at the server itself.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["LocalS3", "SeenRequest"]

#: moto accepts any credentials; these are what the demo and tests use.
ACCESS_KEY = "castedge-local"
SECRET_KEY = "castedge-local-secret"  # noqa: S105 - a loopback test server's fixed key

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class SeenRequest:
    """One request as the S3 server saw it."""

    method: str
    path: str
    range: str | None


class LocalS3:
    """Run moto's S3 server on 127.0.0.1 in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        #: Serve HTTPS with this context; ``ca_bundle`` is what ``client()`` verifies with.
        self.ssl_context = ssl_context
        self.ca_bundle = ca_bundle
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        #: A test may set this to answer some requests itself (faults); return None to pass.
        self.intercept: WsgiApp | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> LocalS3:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        # werkzeug logs every request line; the demo and tests have their own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        backend = DomainDispatcherApplication(create_backend_app)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self.requests.append(
                    SeenRequest(
                        environ["REQUEST_METHOD"],
                        environ.get("PATH_INFO", ""),
                        environ.get("HTTP_RANGE"),
                    )
                )
            if self.intercept is not None:
                answer = self.intercept(environ, start_response)
                if answer is not None:
                    return answer
            result: Iterable[bytes] = backend(environ, start_response)
            return result

        self._server = make_server(
            self.host, self.port, app, threaded=True, ssl_context=self.ssl_context
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-s3", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def gets(self, key_suffix: str) -> list[SeenRequest]:
        """GET requests whose path ends with ``key_suffix``."""
        with self._lock:
            return [r for r in self.requests if r.method == "GET" and r.path.endswith(key_suffix)]

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            verify=self.ca_bundle,
        )
