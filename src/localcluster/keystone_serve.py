"""Serve OpenStack Keystone's own v3 WSGI application on 127.0.0.1 (run by the Keystone venv's python).

    <keystone venv>/bin/python keystone_serve.py CONFIG PORT ACCESS_LOG [CERTFILE KEYFILE]

A threaded wsgiref server around ``keystone.server.wsgi.initialize_public_application()``: no request is
answered by anything but Keystone. Each request is one ``METHOD PATH STATUS`` line in ACCESS_LOG, which
the tests read to count what the operator sent. With a certificate and key it serves https. oslo.config
reads the process's arguments, so they are taken off ``sys.argv`` before Keystone loads.
"""

import os
import ssl
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def main() -> None:
    config, port, access = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    tls = sys.argv[4:6]
    sys.argv = sys.argv[:1]
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    from keystone.server.wsgi import initialize_public_application  # type: ignore[import-not-found]

    app = initialize_public_application()
    log = open(access, "a", buffering=1)  # noqa: SIM115 - open for the server's life

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Handler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            log.write(f"{self.command} {self.path.split('?')[0]} {code}\n")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = make_server("127.0.0.1", port, app, server_class=Server, handler_class=Handler)
    if len(tls) == 2:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls[0], tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on 127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
