"""moto's server on loopback, with DynamoDB requests serialized.

Stock moto server is not atomic under concurrent TransactWriteItems (parallel debits
lose updates), so every request whose X-Amz-Target starts with "DynamoDB" runs under
one lock, response body included. Everything else (SQS long polls above all) stays
concurrent.

Prints "PORT <n>" on stdout once it listens (port 0 picks a free one), and exits when
its parent process goes away so an interrupted test run leaves nothing behind.
"""

import argparse
import os
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


class SerializeDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, others untouched."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                # Consume the body under the lock: moto may build it lazily.
                return [b"".join(self.app(environ, start_response))]
        return self.app(environ, start_response)


def exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    app = SerializeDynamoDB(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True)
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    sys.stdout.write(f"PORT {server.port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
