"""`python main.py serve`: AUTOMATIC1111's HTTP API (`/sdapi/v1/...`) over our queue, models and
history, for the clients that speak it (chat front-ends, editor plugins, scripts)."""
from __future__ import annotations

import sys

from engine.commands.history import add_history_dir


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve AUTOMATIC1111's HTTP API (/sdapi/v1/...)",
        description="Serve the AUTOMATIC1111 web UI's HTTP API, so clients made for it use SD "
                    "Desk's models, queue and history. Listens on 127.0.0.1 (this machine "
                    "only) unless told otherwise; another address needs --api-auth or "
                    "--listen-anywhere.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; "
                             "0.0.0.0 for every network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860, as A1111)")
    parser.add_argument("--api-auth", default=None, metavar="USER:PASS",
                        help="require HTTP Basic with this user and password")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="let web pages from this origin (https://example.org) call the "
                             "API from a browser; repeat for more (default: none)")
    parser.add_argument("--listen-anywhere", action="store_true",
                        help="allow a non-loopback --host without --api-auth (anyone who "
                             "reaches the port can use it)")
    parser.add_argument("--model", default=None,
                        help="the model at start (default: the preferred model when its "
                             "weights are installed, else the built-in demo); clients switch "
                             "with /sdapi/v1/options")
    add_history_dir(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.api.app import ApiSettings, create_app
    from engine.api.local import LocalJobs
    from engine.api.mapping import no_model_message
    from engine.api.security import Credentials, is_loopback
    from engine.api.server import ApiServer, listen_problem
    from engine.api import catalogue
    try:
        credentials = Credentials.parse(args.api_auth) if args.api_auth is not None else None
    except ValueError as error:
        return _fail(str(error))
    if not 0 < args.port < 65536:
        return _fail(f"--port {args.port} is not a port: use 1 to 65535.")
    problem = listen_problem(args.host, credentials is not None, args.listen_anywhere)
    if problem:
        return _fail(problem)
    model = None
    if args.model is not None:
        found = catalogue.find_model(args.model)
        if found is None:
            return _fail(no_model_message(args.model))
        model = found.id
    if credentials is None and args.listen_anywhere and not is_loopback(args.host):
        print(f"warning: serving on {args.host} with no password: anyone who reaches port "
              f"{args.port} can queue jobs and read the images they make.", file=sys.stderr)
    jobs = LocalJobs(args.history_dir)
    app = create_app(jobs.port, ApiSettings(credentials, tuple(args.cors_origin), model=model))
    server = ApiServer(app, args.host, args.port, log_level="warning")
    try:
        server.start()
    except OSError as error:
        jobs.stop()
        return _fail(f"Cannot listen on {args.host}:{args.port}: "
                     f"{error.strerror or error}. Is another server using that port?")
    jobs.start()
    jobs.load_engine()
    print(f"Serving AUTOMATIC1111's API on {server.url}/sdapi/v1/ (Ctrl+C to stop)",
          file=sys.stderr)
    import signal

    def interrupted(*_):
        raise KeyboardInterrupt
    # A service manager's stop (SIGTERM) ends it as Ctrl+C does: the running job stops at
    # its next step and the server closes, rather than the process dying mid-save.
    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("Stopping.", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        jobs.stop()
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
