"""A steady load of API writes through the gateway, as staff and clients make them.

Each *story* is one client's life: staff register the client in registry, invite it to a
survey and the client answers through its link, staff open complaints about it and take them
through the workflow (acknowledge, start, sometimes escalate, wait and resume, resolve,
sometimes reopen and resolve again, close), sometimes correcting a complaint's severity on the
way. Several agents run stories at once.

The agents behave as a careful API client does during an outage: a 503 (or a dropped
connection) is retried after ``Retry-After`` with the same ``Idempotency-Key``, a 422 with
``Retry-After`` (the service has not learnt the client from registry's events yet) is retried
too, and so is a 409 saying the key is still in flight — always under the same key, never a new
one. Where an answer was lost the agent reads the resource back instead of guessing: a 409 saying
the first request with the key succeeded but its answer was not stored is followed by a listing
that finds what it made. Every answer is counted by status.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

SEVERITIES = ("low", "medium", "high", "critical")
CATEGORIES = ("product", "service", "delivery", "billing", "communication")
CHANNELS = ("phone", "email", "web")
#: How long one write may keep being retried before the agent gives up on it.
WRITE_PATIENCE_S = 120.0
#: How long an Idempotency-Key may answer "still in flight" before it is taken for stuck (and
#: the write for failed): longer than the lease of a reservation a stopped server leaves behind.
KEY_STUCK_S = 90.0
#: Statuses after which the same request is sent again (a 500 too, so that one does not end
#: the story; the run counts it as a failure all the same).
RETRIED = {500, 502, 503, 504, 429}

NPS_SURVEY = {
    "title": {"zh-CN": "故障演练回访", "en": "Fault drill follow-up"},
    "languages": ["zh-CN", "en"],
    "questions": [{"key": "recommend", "type": "nps", "required": True,
                   "text": {"zh-CN": "您有多大可能推荐我们？", "en": "Would you recommend us?"}}],
}


@dataclass
class Tally:
    """Every HTTP answer the agents received, by status, and what they achieved."""

    statuses: Counter = field(default_factory=Counter)
    by_route: Counter = field(default_factory=Counter)
    done: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    stuck_keys: Counter = field(default_factory=Counter)
    lost_answers: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, route: str, status: int | str, text: str = "") -> None:
        with self.lock:
            self.statuses[status] += 1
            self.by_route[(route, status)] += 1
            if isinstance(status, int) and status >= 500 and status != 503 \
                    and len(self.server_errors) < 20:
                self.server_errors.append(f"{route} → {status}: {text[:300]}")

    def key_stuck(self, route: str) -> None:
        with self.lock:
            self.stuck_keys[route] += 1

    def answer_lost(self, route: str) -> None:
        with self.lock:
            self.lost_answers[route] += 1

    def achieved(self, what: str) -> None:
        with self.lock:
            self.done[what] += 1


class GiveUp(Exception):
    """A write kept failing for longer than the agent's patience."""


class Api:
    """HTTP through the gateway with the retry behaviour of a careful client."""

    def __init__(self, base_url: str, token: str, tally: Tally, stop: threading.Event) -> None:
        self.base_url = base_url.rstrip("/")
        self.tally = tally
        self.stop = stop
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, route: str, *, json=None, key: bool = False,
             auth: bool = True) -> requests.Response:
        """Send until an answer that is not an outage or "not known yet" arrives.

        ``key`` sends one ``Idempotency-Key`` with every attempt. A 409 saying the key is still
        in flight is sent again under the same key; one still in flight after ``KEY_STUCK_S``
        is a stuck key, and the write fails. A 409 saying the first request succeeded but its
        answer was lost is returned (and counted): the caller finds the resource by listing."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if key else {}
        if not auth:
            headers["Authorization"] = None  # type: ignore[assignment]
        deadline = time.monotonic() + WRITE_PATIENCE_S
        in_flight_since: float | None = None
        while True:
            try:
                answer = self.session.request(method, self.base_url + path, json=json,
                                              headers=headers, timeout=20)
            except requests.RequestException as exc:
                self.tally.answer(route, f"no answer ({type(exc).__name__})")
                wait = 0.5
            else:
                self.tally.answer(route, answer.status_code, answer.text)
                retry_after = answer.headers.get("Retry-After")
                if answer.status_code in RETRIED or (answer.status_code == 422 and retry_after):
                    wait = min(float(retry_after or 0.5), 1.0)
                elif answer.status_code == 409 and key and answer_lost(answer):
                    self.tally.answer_lost(route)
                    return answer
                elif answer.status_code == 409 and key and not _about_state(answer):
                    wait = min(float(retry_after or 0.5), 1.0)
                    in_flight_since = in_flight_since or time.monotonic()
                    if time.monotonic() - in_flight_since > KEY_STUCK_S:
                        self.tally.key_stuck(route)
                        raise GiveUp(f"{method} {path}: its Idempotency-Key stayed in flight "
                                     f"for {KEY_STUCK_S:.0f} s")
                else:
                    return answer
            if time.monotonic() > deadline:
                raise GiveUp(f"{method} {path} kept failing for {WRITE_PATIENCE_S:.0f} s")
            time.sleep(wait)


def answer_lost(answer: requests.Response) -> bool:
    """A 409 saying the first request with the key succeeded but its answer was not stored."""
    try:
        return answer.json().get("first_request") == "succeeded"
    except (ValueError, AttributeError):
        return False


def _about_state(answer: requests.Response) -> bool:
    """A 409 saying the resource's state does not allow the action (it lists what does)."""
    try:
        return "allowed_actions" in answer.json()
    except ValueError:
        return False


class Agent:
    """Runs client stories one after another until told to stop or none are left."""

    def __init__(self, api: Api, survey_id: str, stories: "StoryQueue", rng: random.Random) -> None:
        self.api = api
        self.survey_id = survey_id
        self.stories = stories
        self.rng = rng

    def run(self) -> None:
        while not self.api.stop.is_set():
            number = self.stories.take()
            if number is None:
                return
            try:
                self.story(number)
            except GiveUp as exc:
                self.api.tally.achieved(f"Gave up: {exc}")
            self.stories.finished()

    # -- one client's life --------------------------------------------------------------
    def story(self, number: int) -> None:
        client_id = self.register(number)
        self.feedback(client_id)
        for _ in range(2):
            self.complaint(client_id)
            self.feedback(client_id)

    def register(self, number: int) -> str:
        fields = {"name": f"Fault drill client {number:04d} 客户", "kind": "external",
                  "category": "enterprise", "preferred_language": self.rng.choice(("zh-CN", "en")),
                  "contacts": [{"name": f"Contact {number}", "email": f"c{number}@example.com"}]}
        if number % 4:
            fields["annual_value"] = {"amount": str(self.rng.choice(
                (2_500_000, 1_000_000, 400_000, 150_000, 42_000))), "currency": "CNY"}
        answer = self.api.call("POST", "/registry/api/v1/clients", "registry: create client",
                               json=fields, key=True)
        if answer_lost(answer):
            client = self._found(f"/registry/api/v1/clients?q={quote(fields['name'])}",
                                 "registry: find client")
        else:
            self._expect(answer, 201)
            client = answer.json()
        self.api.tally.achieved("Clients registered")
        return client["id"]

    def feedback(self, client_id: str) -> None:
        url = self._invite(client_id)
        if url is None:
            return
        token = url.rsplit("/s/", 1)[1]
        answer = self.api.call("POST", "/survey/api/v1/public/responses", "survey: submit response",
                               json={"token": token, "answers": {"recommend": self.rng.randint(0, 10)}},
                               auth=False)
        if answer.status_code == 410:  # our first attempt was stored; its answer was lost
            self.api.tally.achieved("Survey responses (answer lost, stored all the same)")
            return
        self._expect(answer, 201)
        self.api.tally.achieved("Survey responses")

    def _invite(self, client_id: str) -> str | None:
        answer = self.api.call("POST", f"/survey/api/v1/surveys/{self.survey_id}/invitations",
                               "survey: invite", json={"client_id": client_id}, key=True)
        if answer_lost(answer):
            item = self._found(f"/survey/api/v1/surveys/{self.survey_id}/invitations"
                               f"?client_id={client_id}&state=open", "survey: find invitation")
        else:
            self._expect(answer, 201)
            item = answer.json()["items"][0]
        self.api.tally.achieved("Survey invitations")
        url = item.get("url")
        if url:
            return url
        # A replay of a create whose answer was lost withholds the link: ask for a new one.
        invitation_id = item["id"]
        answer = self.api.call("POST", f"/survey/api/v1/invitations/{invitation_id}/resend",
                               "survey: resend", key=True)
        if answer_lost(answer):  # that new link is lost with its answer: ask for another
            answer = self.api.call("POST", f"/survey/api/v1/invitations/{invitation_id}/resend",
                                   "survey: resend", key=True)
        self._expect(answer, 200)
        return answer.json().get("url")

    def complaint(self, client_id: str) -> None:
        severity = self.rng.choice(SEVERITIES)
        answer = self.api.call("POST", "/complaints/api/v1/complaints", "complaints: open", json={
            "client_id": client_id, "channel": self.rng.choice(CHANNELS),
            "category": self.rng.choice(CATEGORIES), "severity": severity,
            "title": "Fault drill: deliverable late", "description": "Opened by the fault suite."},
            key=True)
        if answer_lost(answer):  # the story's earlier complaints are closed by now
            complaint = self._found(f"/complaints/api/v1/complaints?client_id={client_id}"
                                    f"&status=new", "complaints: find")
        else:
            self._expect(answer, 201)
            complaint = answer.json()
        self.api.tally.achieved("Complaints opened")
        for step in self._plan(severity):
            complaint = self._act(complaint, step)

    def _plan(self, severity: str) -> list[dict]:
        rng = self.rng
        steps: list[dict] = [{"action": "acknowledge"}]
        if rng.random() < 0.25:
            steps.append({"severity": rng.choice([s for s in SEVERITIES if s != severity])})
        steps.append({"action": "start"})
        if rng.random() < 0.2:
            steps += [{"action": "wait", "reason": "Waiting for the client's logs"},
                      {"action": "resume"}]
        resolve = {"action": "resolve", "resolution_code": "fixed", "root_cause": "Supplier delay",
                   "summary": "Delivered with a recovery plan"}
        steps.append(resolve)
        if rng.random() < 0.2:
            steps += [{"action": "reopen", "reason": "Still late"}, resolve]
        steps.append({"action": "close", "client_accepted": rng.random() < 0.8})
        return steps

    def _act(self, complaint: dict, step: dict) -> dict:
        path = f"/complaints/api/v1/complaints/{complaint['id']}"
        if "action" not in step:  # a triage correction of the severity
            answer = self.api.call("PATCH", path, "complaints: reclassify", json=step)
            self._expect(answer, 200)
            self.api.tally.achieved("Complaint severities corrected")
            return answer.json()
        route = f"complaints: {step['action']}"
        for _ in range(5):
            answer = self.api.call("POST", f"{path}/actions", route, json=step, key=True)
            if answer.status_code != 409:
                self._expect(answer, 200)
                self.api.tally.achieved(f"Complaint actions: {step['action']}")
                return answer.json()
            # Not allowed now: the action may have happened under an answer that was lost.
            # Read the complaint back; if the action is still possible, send it again.
            current = self.api.call("GET", path, "complaints: read")
            self._expect(current, 200)
            if step["action"] not in current.json()["allowed_actions"]:
                self.api.tally.achieved("Complaint actions found done on reading back")
                return current.json()
        raise GiveUp(f"{step['action']} on {complaint['id']} kept answering 409")

    def _found(self, path: str, route: str) -> dict:
        """The one resource a listing finds: what a create whose answer was lost made."""
        answer = self.api.call("GET", path, route)
        self._expect(answer, 200)
        items = answer.json()["items"]
        if len(items) != 1:
            raise GiveUp(f"GET {path} found {len(items)} items, not the one whose answer was lost")
        self.api.tally.achieved("Writes whose answer was lost, found by listing")
        return items[0]

    @staticmethod
    def _expect(answer: requests.Response, status: int) -> None:
        if answer.status_code != status:
            raise GiveUp(f"{answer.request.method} {answer.request.path_url} answered "
                         f"{answer.status_code}: {answer.text[:200]}")


class StoryQueue:
    """Hands out story numbers and counts how many are started and finished."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = 0
        self.completed = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            if self.started >= self.total:
                return None
            self.started += 1
            return self.started

    def finished(self) -> None:
        with self._lock:
            self.completed += 1

    @property
    def progress(self) -> float:
        return self.completed / self.total


def prepare_survey(api: Api) -> str:
    """A published NPS survey every story invites its client to."""
    created = api.call("POST", "/survey/api/v1/surveys", "survey: create survey", json=NPS_SURVEY,
                       key=True)
    assert created.status_code == 201, created.text
    survey_id = created.json()["id"]
    published = api.call("POST", f"/survey/api/v1/surveys/{survey_id}/publish", "survey: publish")
    assert published.status_code == 200, published.text
    return survey_id


def run_load(base_url: str, token: str, *, stories: int, agents: int, seed: int,
             stop: threading.Event) -> tuple[Tally, StoryQueue, list[threading.Thread]]:
    """Start ``agents`` threads working through ``stories`` client stories; returns at once."""
    tally = Tally()
    queue = StoryQueue(stories)
    survey_id = prepare_survey(Api(base_url, token, tally, stop))
    threads = []
    for number in range(agents):
        agent = Agent(Api(base_url, token, tally, stop), survey_id, queue,
                      random.Random(seed * 1000 + number))
        thread = threading.Thread(target=agent.run, name=f"agent-{number}", daemon=True)
        thread.start()
        threads.append(thread)
    return tally, queue, threads
