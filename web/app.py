"""The web app (Swedish), run by `fundwatch serve` under uvicorn: the public pages, feeds and API
(web.pages, web.feeds, web.api: /utlysningar, /andringar, /flode.atom, /kalender.ics, /api/v1/...,
/static/...) and the subscription pages:

  GET  /                        subscribe form with the privacy notice (GDPR art. 13)
  POST /                        store unconfirmed, queue the confirmation mail (throttled per
                                mailbox and client; the worker below sends it)
  GET  /integritet              privacy notice
  GET  /bekrafta/{token}        a page with a button (changes nothing)
  POST /bekrafta/{token}        confirm (repeatable)
  GET  /installningar/{token}   change filters (linked from every digest)
  POST /installningar/{token}   save them
  POST /radera/{token}          erase the subscriber (manage token)
  GET  /avregistrera/{token}    a page with a button (changes nothing)
  GET  /dolj/{token}?id=ITEM    "Visa inte fler om denna": a page with a button (changes nothing)
  POST /dolj/{token}?id=ITEM    leave that item out of the subscriber's digests (repeatable)
  POST /avregistrera/{token}    RFC 8058 one-click: body List-Unsubscribe=One-Click, form-encoded or
                                multipart; 200, no redirect, repeatable. The token authenticates it.

Tokens are signed (digest.tokens); a tampered one answers 400, an unknown subscriber 404, and
neither changes anything. Every other form carries a double-submit CSRF token (cookie + field,
the cookie `__Host-` prefixed under an https FUNDWATCH_PUBLIC_URL) and must come from this site
(Origin, else Referer). Every response, a colleague's pages too, gets the security headers from
one middleware. A background task sends the queued confirmation mail (digest.confirmations).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundwatch.config import MailSettings
from fundwatch.digest import confirmations, tokens
from fundwatch.digest import filters as filters_mod
from fundwatch.digest import subscribers as subs
from fundwatch.digest.builder import KIND_SV
from fundwatch.digest.filters import Filters, SubscriptionError
from fundwatch.digest.models import Subscriber
from fundwatch.eligibility import FORMS
from fundwatch.items import KINDS
from fundwatch.regions import REGIONS
from fundwatch.scheduler.schedule import SchedulerSettings, cron_trigger
from fundwatch.storage.db import session_scope
from fundwatch.storage.models import Item
from fundwatch.swedish import format_date_sv
from fundwatch.web.api import Api
from fundwatch.web.feeds import Feeds
from fundwatch.web.pages import PublicPages, feed_query
from fundwatch.web.templating import STATIC, TEMPLATES

logger = logging.getLogger(__name__)
ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_FORM_BYTES = 64 * 1024
WEEKDAYS_SV = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
MAIL_WORKER_SECONDS = 5.0  # how often queued confirmation mail is looked for
# A new address costs an insert more than a known one: every accepted form is answered after this
# floor, so the time does not tell them apart (bench/subscribe_timing.py)
ANSWER_FLOOR_SECONDS = 0.25
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    # URLs hold tokens: a Referer only to this site (no-referrer would make browsers post `Origin: null`)
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


class SecurityHeaders:
    """Sets SECURITY_HEADERS on every response of the app: error pages, and routes added later (a
    route that sets one of them itself, say Cache-Control on a feed, keeps its own)."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                message = {**message, "headers": headers + [(k, v) for k, v in self.headers if k not in present]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class App:
    def __init__(self, settings: MailSettings | None = None):
        self.settings = settings or MailSettings.from_env()
        self.signer = tokens.Signer(tokens.secret_key("`fundwatch serve`"))
        self.agencies = list(filters_mod.known_agencies().items())
        self.kinds = [(k, KIND_SV[k]) for k in KINDS]
        self.reminder_days = filters_mod.REMINDER_DAYS
        self.forms, self.regions = list(FORMS), list(REGIONS)
        self.secure_cookie = self.settings.public_url.startswith("https://")
        # __Host-: the browser keeps it only if Secure, host-only, path /: no subdomain can plant one
        self.csrf_cookie = "__Host-fw_csrf" if self.secure_cookie else "fw_csrf"
        public = urlsplit(self.settings.public_url)
        self.public_origin = f"{public.scheme}://{public.netloc}"
        self.contact = self.settings.admin_email

    # -- helpers ----------------------------------------------------------------------------------
    def page(self, name: str, status: int = 200, request: Request | None = None, **context: Any) -> HTMLResponse:
        csrf = None
        if request is not None:
            csrf = request.cookies.get(self.csrf_cookie) or secrets.token_urlsafe(32)
            context["csrf"] = csrf
        context.setdefault("title", {"subscribe.html": "Prenumerera", "manage.html": "Ändra vad du får"}.get(name, "fundwatch"))
        context.setdefault("agencies", self.agencies)
        context.setdefault("forms", self.forms)
        context.setdefault("regions", self.regions)
        context.setdefault("kinds", self.kinds)
        context.setdefault("reminder_choices", self.reminder_days)
        response = HTMLResponse(TEMPLATES.get_template(name).render(context), status_code=status)
        if csrf is not None and request.cookies.get(self.csrf_cookie) != csrf:
            response.set_cookie(self.csrf_cookie, csrf, httponly=True, samesite="strict", secure=self.secure_cookie, path="/")
        return response

    def message(self, title: str, *paragraphs: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("action", None)
        context.setdefault("link", None)
        context.setdefault("hidden", [])
        context.setdefault("danger", False)
        return self.page("message.html", status, title=title, paragraphs=paragraphs, **context)

    async def form(self, request: Request):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_FORM_BYTES:
            return None
        try:
            return await request.form(max_files=0, max_fields=200)
        except Exception:  # noqa: BLE001 - a malformed body is the client's problem
            return None

    def csrf_ok(self, request: Request, form) -> bool:
        """The form came from this site: the double-submit token, and Origin (else Referer)."""
        cookie = request.cookies.get(self.csrf_cookie, "")
        field = form.get("csrf", "") if form is not None else ""
        token_ok = bool(cookie) and isinstance(field, str) and hmac.compare_digest(cookie, field)
        return token_ok and self.from_this_site(request)

    def from_this_site(self, request: Request) -> bool:
        allowed = {self.public_origin, f"{request.url.scheme}://{request.headers.get('host', '')}"}
        origin = request.headers.get("origin", "")
        if origin and origin != "null":  # "null": an opaque origin; the Referer may still say
            return origin.rstrip("/") in allowed
        referer = urlsplit(request.headers.get("referer", ""))
        return bool(referer.netloc) and f"{referer.scheme}://{referer.netloc}" in allowed

    def csrf_failed(self) -> HTMLResponse:
        return self.message("Formuläret har gått ut",
                            "Sidan var för gammal eller öppnades i en annan webbläsare. Gå tillbaka, ladda om sidan och försök igen.",
                            status=403)

    def lookup(self, session, token: str, purpose: str) -> Subscriber | HTMLResponse:
        """The subscriber a token names, or the error page (400 tampered/expired, 404 unknown)."""
        try:
            sid, key = self.signer.read(token, purpose)
        except tokens.TokenInvalid as exc:
            if str(exc) == "expired":
                return self.message("Länken har gått ut", "Bekräftelselänken gäller i 14 dagar.",
                                    "Anmäl dig igen så skickar vi en ny.", status=400, link=("/", "Till anmälan"))
            return self.message("Ogiltig länk", "Länken är inte giltig. Kontrollera att du har fått med hela länken från brevet.",
                                status=400)
        sub = session.get(Subscriber, sid)
        if sub is None or not hmac.compare_digest(sub.token_key, key):
            return self.message("Prenumerationen finns inte", "Den här prenumerationen finns inte längre.", status=404,
                                link=("/", "Prenumerera igen"))
        return sub

    def filter_form(self, form) -> tuple[Filters | None, list[str]]:
        keywords = [w for part in (form.get("keywords") or "").split(",") for w in [part.strip()] if w]
        try:
            filters = filters_mod.clean_filters(form.getlist("agency"), form.getlist("kind"), keywords,
                                                bool(form.get("include_noncompetitive")), agencies_known=dict(self.agencies),
                                                reminder_days=form.get("reminder_days") or filters_mod.DEFAULT_REMINDER_DAYS,
                                                forms=form.getlist("form"), regions=[r for r in [form.get("region")] if r])
        except SubscriptionError as exc:
            text = str(exc)
            if "reminder" in text:
                return None, ["Välj påminnelse 7, 14 eller 30 dagar före sista ansökningsdag."]
            if "keyword" in text:
                return None, [f"Högst {filters_mod.MAX_KEYWORDS} nyckelord med högst {filters_mod.MAX_KEYWORD_LEN} tecken vardera."]
            return None, ["Ogiltigt val av myndighet, slag, organisationsform eller region."]
        return filters, []

    # -- pages --------------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        if request.method != "POST":  # GET and HEAD
            return self.page("subscribe.html", request=request, errors=[], email="", org="", filters=Filters())
        form = await self.form(request)
        if form is None:
            return PlainTextResponse("Felaktig begäran", status_code=400)
        if not self.csrf_ok(request, form):
            return self.csrf_failed()
        email, org = (form.get("email") or "").strip(), (form.get("org") or "").strip()
        errors = []
        try:
            subs.normalize_email(email)
        except SubscriptionError:
            errors.append("Ange en giltig e-postadress.")
        try:
            subs.clean_org(org)
        except SubscriptionError:
            errors.append("Ange organisationens namn (högst 200 tecken).")
        filters, filter_errors = self.filter_form(form)
        errors += filter_errors
        if errors:
            return self.page("subscribe.html", 400, request=request, errors=errors, email=email, org=org,
                             filters=filters or Filters())
        client = request.client.host if request.client else "unknown"
        started = time.monotonic()
        limited = await run_in_threadpool(self._subscribe, email, org, filters, client)
        await asyncio.sleep(max(0.0, ANSWER_FLOOR_SECONDS - (time.monotonic() - started)))
        if limited == "mailbox":
            return self.message("Vänta en stund",
                                "Vi har redan tagit emot flera anmälningar för den här e-postadressen den senaste timmen.",
                                "Titta efter vårt brev i inkorgen och i skräpposten, eller försök igen om en timme.",
                                status=429)
        if limited == "client":
            return self.message("Vänta en stund",
                                "Vi har tagit emot många anmälningar från din uppkoppling den senaste timmen.",
                                "Försök igen om en timme.", status=429)
        # The same page, as fast, whatever the address and the relay: the mail goes out from a queue.
        return self.message("Kolla din e-post",
                            f"Om adressen {email} kan ta emot e-post skickar vi inom en minut ett brev med en bekräftelselänk dit.",
                            "Prenumerationen börjar när du har klickat på länken. Kommer inget brev, titta i skräpposten.")

    def _subscribe(self, email: str, org: str, filters: Filters, client: str) -> str | None:
        with session_scope() as session:
            limited = confirmations.throttled(session, email, client)
            if limited is None:
                confirmations.request(session, email, org, filters, client)
            return limited

    async def mail_worker(self) -> None:
        """Sends queued confirmation mail until the app stops; a failing relay is retried later."""
        while True:
            try:
                await run_in_threadpool(confirmations.send_due, self.settings)
            except Exception:  # noqa: BLE001 - e.g. the database briefly away: try again next round
                logger.exception("sending queued confirmation mail failed")
            await asyncio.sleep(MAIL_WORKER_SECONDS)

    async def privacy(self, request: Request) -> Response:
        return self.page("privacy.html", title="Personuppgifter", contact=self.contact)

    async def confirm(self, request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            form = await self.form(request)
            if not self.csrf_ok(request, form):
                return self.csrf_failed()
        return await run_in_threadpool(self._confirm, request, token, request.method == "POST")

    def _confirm(self, request: Request, token: str, post: bool) -> Response:
        with session_scope() as session:
            sub = self.lookup(session, token, tokens.CONFIRM)
            if isinstance(sub, Response):
                return sub
            if not post:
                return self.message("Bekräfta prenumerationen",
                                    f"Bekräfta att {sub.email} ska få fundwatchs veckobrev för {sub.org}.",
                                    request=request, action=request.url.path, button="Bekräfta")
            try:
                changed = subs.confirm(session, sub)
            except SubscriptionError:
                return self.message("Det går inte att bekräfta",
                                    "Adressen tar inte emot våra brev (de har studsat flera gånger).", status=409)
            manage = f"/installningar/{self.signer.make(sub.id, sub.token_key, tokens.MANAGE)}"
            return self.message("Prenumerationen är bekräftad" if changed else "Redan bekräftad",
                                f"Det första veckobrevet kommer {next_digest_sv()}, med de utlysningar som går att "
                                "söka nu. Sedan får du varje vecka det som är nytt eller ändrat och matchar dina val.",
                                link=(manage, "Ändra vad du får"))

    async def manage(self, request: Request) -> Response:
        token = request.path_params["token"]
        form = None
        if request.method == "POST":
            form = await self.form(request)
            if not self.csrf_ok(request, form):
                return self.csrf_failed()
        return await run_in_threadpool(self._manage, request, token, form)

    def _manage(self, request: Request, token: str, form) -> Response:
        with session_scope() as session:
            sub = self.lookup(session, token, tokens.MANAGE)
            if isinstance(sub, Response):
                return sub
            context = {"email": sub.email, "action": request.url.path, "saved": False, "errors": [],
                       "delete_action": f"/radera/{token}",
                       "unsubscribe": f"/avregistrera/{self.signer.make(sub.id, sub.token_key, tokens.UNSUBSCRIBE)}"}
            if form is None:
                return self.page("manage.html", request=request, org=sub.org, filters=Filters.of(sub),
                                 feeds=feed_query(Filters.of(sub)), **context)
            filters, errors = self.filter_form(form)
            org = (form.get("org") or "").strip()
            try:
                subs.clean_org(org)
            except SubscriptionError:
                errors.append("Ange organisationens namn (högst 200 tecken).")
            if errors:
                return self.page("manage.html", 400, request=request, org=org, filters=filters or Filters.of(sub),
                                 feeds=feed_query(Filters.of(sub)), **{**context, "errors": errors})
            subs.update_filters(session, sub, org, filters)
            return self.page("manage.html", request=request, org=sub.org, filters=filters,
                             feeds=feed_query(filters), **{**context, "saved": True})

    async def delete(self, request: Request) -> Response:
        form = await self.form(request)
        if not self.csrf_ok(request, form):
            return self.csrf_failed()
        return await run_in_threadpool(self._delete, request.path_params["token"])

    def _delete(self, token: str) -> Response:
        with session_scope() as session:
            sub = self.lookup(session, token, tokens.MANAGE)
            if isinstance(sub, Response):
                return sub
            subs.delete(session, sub)
        return self.message("Uppgifterna är raderade",
                            "Vi har tagit bort adressen och allt om prenumerationen. Du får inga fler brev.")

    async def unsubscribe(self, request: Request) -> Response:
        token = request.path_params["token"]
        if request.method != "POST":  # GET and HEAD
            return await run_in_threadpool(self._unsubscribe, request, token, False)
        form = await self.form(request)
        if form is None or form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            return PlainTextResponse("Förväntade List-Unsubscribe=One-Click", status_code=400)
        return await run_in_threadpool(self._unsubscribe, request, token, True)

    def _unsubscribe(self, request: Request, token: str, post: bool) -> Response:
        with session_scope() as session:
            sub = self.lookup(session, token, tokens.UNSUBSCRIBE)
            if isinstance(sub, Response):
                return sub
            if not post:
                return self.message("Avsluta prenumerationen",
                                    f"Vill du sluta få fundwatchs veckobrev till {sub.email}?",
                                    action=request.url.path, button="Avsluta prenumerationen", danger=True,
                                    hidden=[ONE_CLICK])
            subs.unsubscribe(session, sub)
            manage = f"/installningar/{self.signer.make(sub.id, sub.token_key, tokens.MANAGE)}"
        return self.message("Prenumerationen är avslutad", "Du får inga fler veckobrev.",
                            link=(manage, "Radera dina uppgifter eller ändra dig"))


    async def mute(self, request: Request) -> Response:
        token, item_id = request.path_params["token"], request.query_params.get("id", "")
        if request.method == "POST":
            form = await self.form(request)
            if not self.csrf_ok(request, form):
                return self.csrf_failed()
        return await run_in_threadpool(self._mute, request, token, item_id, request.method == "POST")

    def _mute(self, request: Request, token: str, item_id: str, post: bool) -> Response:
        with session_scope() as session:
            sub = self.lookup(session, token, tokens.MUTE)
            if isinstance(sub, Response):
                return sub
            item = session.get(Item, item_id) if item_id else None
            if item is None:
                return self.message("Okänd utlysning", "Länken pekar inte på något vi bevakar. "
                                    "Kontrollera att du har fått med hela länken från brevet.", status=404)
            if not post:
                return self.message("Visa inte fler om denna",
                                    f"Vill du att veckobreven till {sub.email} inte längre tar upp ”{item.title}”?",
                                    request=request, action=str(request.url.path) + "?" + str(request.url.query),
                                    button="Visa inte fler om denna")
            subs.mute(session, sub, item.id)
            manage = f"/installningar/{self.signer.make(sub.id, sub.token_key, tokens.MANAGE)}"
            return self.message("Du får inte fler brev om denna",
                                f"”{item.title}” tas inte längre upp i veckobreven till {sub.email}.",
                                link=(manage, "Ändra vad du får"))


def next_digest_sv(now: dt.datetime | None = None) -> str:
    """When the next weekly digest goes out, e.g. 'måndag 7 december kl. 07.00'."""
    settings = SchedulerSettings.from_env()
    now = now or dt.datetime.now(settings.tz)
    when = cron_trigger(settings.digest_schedule, settings.tz, what="digest schedule").get_next_fire_time(None, now)
    return f"{WEEKDAYS_SV[when.weekday()]} {format_date_sv(when.date())} kl. {when:%H.%M}"


def create_app(settings: MailSettings | None = None) -> Starlette:
    app = App(settings)
    pages = PublicPages()
    feeds = Feeds(pages, app.settings.public_url)

    async def not_found(request: Request, exc) -> Response:
        if request.url.path.startswith("/api/"):
            return Response('{"error": "not found"}\n', 404, media_type="application/json")
        if getattr(exc, "status_code", 404) == 405:
            return PlainTextResponse("Metoden stöds inte", status_code=405)
        return pages.not_found()

    routes = [
        Route("/utlysningar", pages.calls, methods=["GET"]),
        Route("/utlysningar/{item_id:path}", pages.call, methods=["GET"]),
        Route("/andringar", pages.changes, methods=["GET"]),
        Route("/flode.atom", feeds.atom, methods=["GET"]),
        Route("/kalender.ics", feeds.calendar, methods=["GET"]),
        Api(pages).mount(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/", app.index, methods=["GET", "POST"]),
        Route("/integritet", app.privacy, methods=["GET"]),
        Route("/bekrafta/{token}", app.confirm, methods=["GET", "POST"]),
        Route("/installningar/{token}", app.manage, methods=["GET", "POST"]),
        Route("/radera/{token}", app.delete, methods=["POST"]),
        Route("/avregistrera/{token}", app.unsubscribe, methods=["GET", "POST"]),
        Route("/dolj/{token}", app.mute, methods=["GET", "POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_starlette):
        worker = asyncio.create_task(app.mail_worker())
        try:
            yield
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found},
                     middleware=[Middleware(SecurityHeaders)], lifespan=lifespan)
