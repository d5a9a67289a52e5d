"""chocohub's entry points: routes, queue consumers and schedules.

Each is a few lines that hand over to `chalicelib`; nothing here decides anything.
`get_hub` wires the adapters on first use, so importing this module opens no
connection and imports no provider SDK.
"""

from chalice import Chalice, Rate

from chalicelib import names, web, web_errors
from chalicelib.bootstrap import get_hub
from chalicelib.queues import MAIL, PAYMENTS, SIGNUPS, SLACK
from chalicelib.runtime.embedded.runner import under_chalice_local

# The `chocohub` logger is Powertools' (`chalicelib.logs`, built by the first line logged):
# Chalice must not give it a plain-text handler of its own first, or each line is written twice.
app = Chalice(app_name="chocohub", configure_logs=False)

FORM = "application/x-www-form-urlencoded"
# Each stage consumes its own queues (`chocohub-<stage>-signups`, …), never another's.
STAGE = names.current_stage()
# A replay needs no body: curl sends none, or a form type.
ADMIN_POST = ["application/json", FORM, "text/plain"]
# The consumers of the Google Sheet (60 reads and 60 writes a minute per service account,
# one read and at most one write a batch): two Lambdas each at most, SQS's smallest maximum
# concurrency. The shared token bucket keeps them within the quota; the cap keeps Lambdas
# from idling, billed, while they wait for a token. A batch's orders and emails go side by
# side (`runtime.side_by_side`), so two Lambdas still place twenty orders at once.
SHEET_CONSUMERS = 2
# They gather fuller batches in a burst (fewer reads for as many events): Lambda waits up
# to this many seconds for a batch to fill (the embedded runtime only while the queue is busy).
SHEET_WINDOW = 1
# Their batch: one Sheets read (and at most one append and one update) for 25 events. At
# 10, the three queues' reads alone would cap a burst at ~20 events/s under Google's 60 a
# minute even with the minute shrunk 5×; Lambda allows batches over 10 with a window of
# at least 1 s; the orders and emails of a batch go side by side.
SHEET_BATCH = 25
# GET routes read no body: whatever Content-Type a client sends with them is fine.
ANY = ["*/*"]


def admin():
    """The dashboard (`chalicelib.admin.web`), imported by its first request: a webhook's
    or a consumer's cold start never pays for it."""
    from chalicelib.admin import web

    return web


@app.middleware("http")
def uniform_errors(event, get_response):
    return web_errors.uniform(event, get_response(event), app.routes)


@app.route("/webhooks/formstack", methods=["POST"], content_types=[FORM, "application/json"])
def formstack_webhook():
    return web.formstack(app.current_request, get_hub)


@app.route("/webhooks/stripe", methods=["POST"], content_types=["application/json"])
def stripe_webhook():
    return web.stripe(app.current_request, get_hub)


@app.route("/slack/events", methods=["POST"], content_types=["application/json"])
def slack_events():
    return web.slack_events(app.current_request, get_hub)


@app.route("/slack/commands", methods=["POST"], content_types=[FORM])
def slack_commands():
    return web.slack_commands(app.current_request, get_hub)


@app.route("/unsubscribe/{token}", methods=["GET"], content_types=ANY)
def unsubscribe_page(token):
    return web.unsubscribe_page(app.current_request, get_hub, token)


@app.route("/unsubscribe/{token}", methods=["POST"], content_types=web.UNSUBSCRIBE_TYPES)
def unsubscribe(token):
    return web.unsubscribe(app.current_request, get_hub, token)


@app.route("/health", methods=["GET"], content_types=ANY)
def health():
    return web.health(app.current_request, get_hub)


@app.route("/admin", methods=["GET"])
def admin_page():
    return admin().page(app.current_request, get_hub)


@app.route("/admin", methods=["POST"], content_types=[FORM])
def admin_login():
    return admin().login(app.current_request, get_hub)


@app.route("/admin/api/summary", methods=["GET"])
def admin_summary():
    return admin().summary(app.current_request, get_hub)


@app.route("/admin/api/events", methods=["GET"])
def admin_events():
    return admin().events(app.current_request, get_hub)


@app.route("/admin/api/events/{event_id}", methods=["GET"])
def admin_event(event_id):
    return admin().event(app.current_request, get_hub, event_id)


@app.route("/admin/api/dead-letters", methods=["GET"])
def admin_dead_letters():
    return admin().dead_letters(app.current_request, get_hub)


@app.route("/admin/api/dead-letters/replay", methods=["POST"], content_types=ADMIN_POST)
def admin_replay_by_reason():
    return admin().replay_by_reason(app.current_request, get_hub)


@app.route("/admin/api/dead-letters/{letter_id}/replay", methods=["POST"], content_types=ADMIN_POST)
def admin_replay(letter_id):
    return admin().replay(app.current_request, get_hub, letter_id)


@app.route("/admin/api/dead-letters/{letter_id}/discard", methods=["POST"], content_types=ADMIN_POST)
def admin_discard(letter_id):
    return admin().discard(app.current_request, get_hub, letter_id)


@app.on_sqs_message(
    queue=names.queue(STAGE, SIGNUPS),
    batch_size=SHEET_BATCH,
    maximum_batching_window_in_seconds=SHEET_WINDOW,
    maximum_concurrency=SHEET_CONSUMERS,
)
def on_signup(event):
    return get_hub().consume(event)


@app.on_sqs_message(
    queue=names.queue(STAGE, PAYMENTS),
    batch_size=SHEET_BATCH,
    maximum_batching_window_in_seconds=SHEET_WINDOW,
    maximum_concurrency=SHEET_CONSUMERS,
)
def on_payment(event):
    return get_hub().consume(event)


@app.on_sqs_message(
    queue=names.queue(STAGE, MAIL),
    batch_size=SHEET_BATCH,
    maximum_batching_window_in_seconds=SHEET_WINDOW,
    maximum_concurrency=SHEET_CONSUMERS,
)
def on_mail(event):
    return get_hub().consume(event)


@app.on_sqs_message(queue=names.queue(STAGE, SLACK), batch_size=10)
def on_slack(event):
    return get_hub().consume(event)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def sync_sheet(event):
    get_hub().sync_sheet()


if under_chalice_local():
    get_hub().start_embedded_runtime(app)
