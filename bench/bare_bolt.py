"""The baseline of bench.ack: a bare Bolt app whose listeners only ack(), served like `learnbot serve`.

    python -m bench.bare_bolt --port P [--threads 8]

Same signing secret (SLACK_SIGNING_SECRET), same request verification, Bolt's defaults otherwise
(process_before_response=False: the listener runs in Bolt's pool and the request thread polls for
its ack), behind the same waitress server with the same number of threads.
"""

from __future__ import annotations

import argparse
import logging
import os
import re

import waitress
from flask import Flask, request
from slack_bolt import Ack, App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient


def create_app(signing_secret: str) -> Flask:
    # Bolt asks auth.test once, at the first request: the stand-in answers it, as it does learnbot's.
    client = WebClient(token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-bare"), base_url=os.environ["SLACK_API_URL"])
    bolt = App(signing_secret=signing_secret, client=client, token_verification_enabled=False,
               url_verification_enabled=False)

    def only_ack(ack: Ack) -> None:
        ack()

    bolt.command(re.compile(".*"))(only_ack)
    bolt.view(re.compile(".*"))(only_ack)
    bolt.action(re.compile(".*"))(only_ack)
    bolt.event(re.compile(".*"))(lambda: None)
    handler = SlackRequestHandler(bolt)
    web = Flask("bare-bolt")
    web.add_url_rule("/slack/events", "events", lambda: handler.handle(request), methods=["POST"])
    web.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    return web


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    waitress.serve(create_app(os.environ["SLACK_SIGNING_SECRET"]), host=args.host, port=args.port,
                   threads=args.threads, ident="bare-bolt")


if __name__ == "__main__":
    main()
