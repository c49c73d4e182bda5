"""Staff console latency benchmark: every console page, through gunicorn, on the demo data
(SQLite) and on a large data set (PostgreSQL).

    .venv/bin/python bench/console_bench.py                  # both data sets, 50 requests a page
    .venv/bin/python bench/console_bench.py --only demo --requests 30
    .venv/bin/python bench/console_bench.py --only large --profile   # profile the pages that miss

* **demo**: ``clientloop up --demo`` in a scratch data folder (SQLite files, the embedded bus, its
  workers running beside the web server), exactly as a first-time user starts it; the bench waits
  until the demo complaints exist and the registry has applied their events.
* **large**: three scratch PostgreSQL databases on 127.0.0.1 (``clientloop_bench_<id>_<service>``,
  dropped afterwards), migrated, then bulk-loaded with ``COPY`` straight into each service's
  tables: 10,000 clients, 50,000 complaints with their timelines, 100,000 survey responses with
  their invitations, and what the registry learnt from them (about 200,000 applied events folded
  into satisfaction ledgers by the registry's own domain code). The suite is then served by the
  same gunicorn command ``clientloop up`` runs (``shared.embedded:wsgi()``, one worker, 8
  threads), pointed at those databases.

Each page is requested over HTTP with a ``requests`` session signed in to the console (the token
posted to the sign-in form, as a person does), in ``zh-CN``. Pages are requested in interleaved
rounds (every page once per round) after a warm-up, so a busy moment of the machine weighs on
every page alike. The table gives p50 and p95 (nearest rank) in milliseconds, each also as a
multiple of the same percentile of ``GET /registry/healthz`` measured in the same rounds through
the same server (a Flask answer that touches no database), and the goal: p95 under 150 ms on the
demo data, under 300 ms on the large one. ``--profile`` runs each page that misses its goal
in-process under pyinstrument (``pip install -e '.[bench]'``) and lists its slowest SQL
statements. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVICES = ("registry", "survey", "complaints")
GOALS_MS = {"demo": 150.0, "large": 300.0}
BASELINE = "baseline: GET /registry/healthz"
SECRET = "console-bench-secret-" + "0123456789abcdef" * 3
LANGUAGE = "zh-CN"
#: Who signs in to the console on the large data set (some complaints are assigned to them).
STAFF_NAME = "李伟 Li Wei"

CLIENTS = 10_000
COMPLAINTS = 50_000
RESPONSES = 100_000
DAYS = 730  # the data set spans two years
LONG_LEDGER_COMPLAINTS = 150
LONG_LEDGER_RESPONSES = 450


# == pages ========================================================================================

@dataclass(frozen=True)
class Page:
    name: str
    path: str
    html: bool = True


def console_pages(ids: dict[str, str], *, large: bool) -> list[Page]:
    """Every console page measured, with the ids and search words of the data set; on the large
    data set also the far pages of the long lists (what ``OFFSET`` costs)."""
    complaint = f"/complaints/console/complaints/{ids['complaint']}"
    client = f"/registry/console/clients/{ids['client']}"
    survey = f"/survey/console/surveys/{ids['survey']}"
    words = ids["client_words"]
    complaints = [
        Page("complaints: queue", "/complaints/console/"),
        Page("complaints: queue, all statuses, high, billing",
             "/complaints/console/?status=any&severity=high&category=billing"),
        Page("complaints: queue, overdue", "/complaints/console/?overdue=1"),
        Page("complaints: queue, mine", "/complaints/console/?mine=1"),
        Page("complaints: queue, all, search client name", f"/complaints/console/?status=any&q={words}"),
        Page("complaints: queue, all, search ref", f"/complaints/console/?status=any&q={ids['ref']}"),
        Page("complaints: complaint", complaint),
        Page("complaints: new, client search", f"/complaints/console/new?client_q={words}"),
        Page("complaints: analysis (12 weeks)", "/complaints/console/analysis"),
        Page("complaints: analysis (2 years)",
             f"/complaints/console/analysis?from={ids['two_years_ago']}&to={ids['today']}"),
    ]
    registry = [
        Page("registry: clients", "/registry/console/"),
        Page("registry: clients, search", f"/registry/console/?q={words}"),
        Page("registry: clients, kind + tier", "/registry/console/?kind=external&tier=A"),
        Page("registry: clients, band + owner",
             f"/registry/console/?health_band=at_risk&owner={ids['owner']}"),
        Page("registry: clients, tag", f"/registry/console/?tag={ids['tag']}"),
        Page("registry: client (longest ledger)", client),
        Page("registry: client form", f"{client}/edit"),
        Page("registry: portfolio", "/registry/console/portfolio"),
    ]
    surveys = [
        Page("survey: surveys", "/survey/console/"),
        Page("survey: survey", survey),
        Page("survey: results (per month)", f"{survey}/results"),
        Page("survey: responses", f"{survey}/responses"),
        Page("survey: invitations", f"{survey}/invitations"),
        Page("survey: invitations, open", f"{survey}/invitations?state=open"),
        Page("survey: invite, client search", f"{survey}/invite?q={words}"),
    ]
    if large:
        complaints.insert(6, Page("complaints: queue, all, page 1000",
                                  "/complaints/console/?status=any&page=1000"))
        registry.insert(5, Page("registry: clients, page 300", "/registry/console/?page=300"))
        surveys.insert(4, Page("survey: responses, page 2000", f"{survey}/responses?page=2000"))
    return [Page(BASELINE, "/registry/healthz", html=False), *complaints, *registry, *surveys]


# == measuring ====================================================================================

@dataclass
class Figures:
    page: Page
    timings_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.timings_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


class PageFailed(RuntimeError):
    pass


def fetch(http: requests.Session, base: str, page: Page) -> float:
    """One request, body read; milliseconds. A page must answer 200 (not a redirect to sign-in)."""
    started = time.perf_counter()
    answer = http.get(base + page.path, allow_redirects=False, timeout=60)
    body = answer.content
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200 or (page.html and b"<main" not in body):
        raise PageFailed(f"{page.name}: GET {page.path} answered {answer.status_code} "
                         f"{answer.headers.get('Location', '')}\n{body[:800].decode('utf-8', 'replace')}")
    return elapsed


def measure(http: requests.Session, base: str, pages: list[Page], requests_per_page: int,
            warm_up: int = 3) -> list[Figures]:
    for _ in range(warm_up):
        for page in pages:
            fetch(http, base, page)
    figures = [Figures(page, []) for page in pages]
    for _ in range(requests_per_page):
        for figure in figures:
            figure.timings_ms.append(fetch(http, base, figure.page))
    return figures


def signed_in(base: str, token: str) -> requests.Session:
    """A browser-like session: the token posted once to the sign-in form, the cookie kept."""
    http = requests.Session()
    http.headers["Accept-Language"] = LANGUAGE
    answer = http.post(f"{base}/registry/console/sign-in", data={"token": token},
                       allow_redirects=False, timeout=30)
    if answer.status_code != 303 or "clientloop_console" not in http.cookies:
        raise PageFailed(f"sign-in refused: {answer.status_code} {answer.text[:300]}")
    return http


def table(title: str, figures: list[Figures], goal_ms: float) -> str:
    baseline = next(f for f in figures if f.page.name == BASELINE)
    lines = [f"### {title}", "",
             f"{len(baseline.timings_ms)} requests a page; baseline `GET /registry/healthz`: "
             f"p50 {baseline.p50:.1f} ms, p95 {baseline.p95:.1f} ms.", "",
             "| page | p50 ms | p95 ms | p50 × baseline | p95 × baseline | goal (p95) | |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for figure in figures:
        if figure is baseline:
            continue
        verdict = "pass" if figure.p95 < goal_ms else "**FAIL**"
        lines.append(f"| {figure.page.name} | {figure.p50:.1f} | {figure.p95:.1f} | "
                     f"{figure.p50 / baseline.p50:.1f} | {figure.p95 / baseline.p95:.1f} | "
                     f"{goal_ms:.0f} ms | {verdict} |")
    return "\n".join(lines)


def misses(figures: list[Figures], goal_ms: float) -> list[Page]:
    return [f.page for f in figures if f.page.name != BASELINE and f.p95 >= goal_ms]


# == servers ======================================================================================

def _env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLIENTLOOP_")}
    env.update(CLIENTLOOP_LOG_FORMAT="json", **extra)
    return env


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def demo_suite(folder: Path) -> Iterator[tuple[str, str]]:
    """``clientloop up --demo`` on a free port; yields its URL and the admin token it printed."""
    log = open(folder / "up.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", "--demo", "--port", "0", "--data-dir",
         str(folder / "data")], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=log,
        text=True)
    timer = threading.Timer(120, process.kill)  # a banner that never comes
    timer.start()
    try:
        url = token = None
        lines = iter(process.stdout.readline, "")
        for line in lines:
            found = re.search(r"ClientLoop is running on (\S+?)/? ", line)
            if found:
                url = found.group(1).rstrip("/")
            if line.startswith("Admin token"):
                token = next(lines).strip()
            if line.startswith("Press Ctrl-C"):
                break
        timer.cancel()
        if not url or not token:
            raise RuntimeError(f"clientloop up printed no banner; see {folder / 'up.log'}")
        threading.Thread(target=lambda: [None for _ in lines], daemon=True).start()  # drain
        yield url, token
    finally:
        timer.cancel()
        stop(process)
        log.close()


@contextlib.contextmanager
def gunicorn_suite(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The embedded suite (``shared.embedded:wsgi()``) under gunicorn as ``clientloop up`` serves
    it, on a socket bound here; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:shared.gunicorn_conf", "--bind",
         f"fd://{listener.fileno()}", "--workers", "1", "--threads", "8", "shared.embedded:wsgi()"],
        cwd=ROOT, env=env, pass_fds=(listener.fileno(),), stdout=log, stderr=log)
    listener.close()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/registry/healthz")
        yield base
    finally:
        stop(process)
        log.close()


# == the demo data set ============================================================================

UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _links(html: str, prefix: str) -> list[str]:
    return list(dict.fromkeys(re.findall(f"{re.escape(prefix)}({UUID_PATTERN})", html)))


def demo_ids(http: requests.Session, base: str, started: float) -> dict[str, str]:
    """Wait for the demo data (complaints arrive once the registry's events did), then pick the
    complaint with the longest timeline, its client, and the survey with invitations."""
    deadline = time.monotonic() + 120
    while True:
        queue = http.get(f"{base}/complaints/console/?status=any", timeout=30).text
        complaints = _links(queue, "/complaints/console/complaints/")
        if len(complaints) >= 4:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the demo complaints did not appear within 2 minutes")
        time.sleep(1)
    pages = {cid: http.get(f"{base}/complaints/console/complaints/{cid}", timeout=30).text
             for cid in complaints}
    complaint = max(pages, key=lambda cid: pages[cid].count("<li"))
    client = _links(pages[complaint], "/registry/console/clients/")[0]
    ref = re.search(r"CMP-\d{6}", pages[complaint]).group(0)
    # The registry learns of the complaints from events; its client page shows them once applied.
    while "CMP-" not in http.get(f"{base}/registry/console/clients/{client}", timeout=30).text:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    surveys = _links(http.get(f"{base}/survey/console/", timeout=30).text, "/survey/console/surveys/")
    invited = {sid: http.get(f"{base}/survey/console/surveys/{sid}/invitations", timeout=30).text.count("<tr")
               for sid in surveys}
    # ``up --demo`` runs the periodic jobs every 2 s for its first 30 s: measure after that.
    time.sleep(max(0.0, started + 35 - time.monotonic()))
    today = date.today()
    return {"complaint": complaint, "client": client, "ref": ref,
            "survey": max(invited, key=invited.get), "client_words": "Northwind",
            "owner": "李娜", "tag": "战略客户", "today": today.isoformat(),
            "two_years_ago": (today - timedelta(days=729)).isoformat()}


def run_demo(requests_per_page: int, work: Path, profile: Callable | None) -> tuple[list[Figures], float]:
    folder = work / "demo"
    folder.mkdir()
    started = time.monotonic()
    with demo_suite(folder) as (base, token):
        http = signed_in(base, token)
        ids = demo_ids(http, base, started)
        pages = console_pages(ids, large=False)
        figures = measure(http, base, pages, requests_per_page)
    if profile is not None:
        from shared.config import Settings
        missed = [page for page in profile(figures, GOALS_MS["demo"])]
        if missed:
            settings = Settings.from_env(_env(), data_dir=folder / "data")
            profile_pages(settings, token, missed)
    return figures, time.monotonic() - started


# == the large data set ===========================================================================

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华", "慧"]
EN_FIRST = ["Sarah", "James", "Emily", "Michael", "Olivia", "David", "Sophie", "Daniel", "Grace", "Thomas"]
EN_LAST = ["Mitchell", "Carter", "Nguyen", "Schmidt", "Rossi", "Okafor", "Larsen", "Tanaka", "Dubois", "Khan"]
CITIES = ["北京", "上海", "深圳", "广州", "杭州", "成都", "武汉", "南京", "苏州", "西安", "重庆", "天津"]
CORES = ["华信", "宏达", "新元", "天成", "金桥", "远航", "中科", "博雅", "恒通", "瑞丰", "锦程", "星河",
         "明德", "安泰", "汇丰", "长青", "海纳", "云图", "鼎盛", "智联"]
CN_SUFFIX = ["科技有限公司", "贸易有限公司", "物流集团", "设计院", "医院", "制造有限公司", "软件股份公司",
             "能源集团", "建设工程公司", "教育集团"]
EN_CORES = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Proseware", "Lucerne",
            "Coho", "Alpine", "Blue Yonder", "Woodgrove", "Margie", "Trey", "Humongous", "Adatum"]
EN_SUFFIX = ["Traders", "Logistics", "Holdings", "Systems", "Bank", "Airlines", "Foods", "Energy",
             "Health", "Studios"]
TAGS = ["战略客户", "通信", "政府", "金融", "制造", "零售", "教育", "医疗", "EMEA", "APAC", "retail",
        "pilot", "renewal-2026", "key-account", "新客户", "续约", "高潜力", "渠道", "VIP", "上市公司",
        "engineering", "支持部门", "发起人", "个人", "轨道交通", "能源", "物流", "SaaS", "on-premise", "合作伙伴"]
OWNERS = ["李娜", "王强", "Tom Baker", STAFF_NAME, "张敏", "陈静", "Anna Schmidt", "刘洋", "赵磊",
          "周杰", "孙丽", "Mark Evans", "黄涛", "吴芳", "徐明"]
ASSIGNEES = [STAFF_NAME, "王强", "张敏", "陈静", "Anna Schmidt", "刘洋", "赵磊", "周杰", "孙丽",
             "Mark Evans", "黄涛", "吴芳", "徐明", "郭超", "何慧", "高勇", "林艳", "罗杰"]
ROLES_CN = ["采购总监", "项目经理", "财务经理", "运维主管", "总经理", "IT 负责人"]
KIND_WEIGHTS = {("external", "enterprise"): 35, ("external", "individual"): 15,
                ("external", "government"): 10, ("internal", "stakeholder"): 5,
                ("internal", "team_member"): 5, ("internal", "department"): 5,
                ("potential", "prospect"): 10, ("potential", "segment"): 5,
                ("end_user", "end_user"): 10}
SEVERITY_WEIGHTS = {"low": 35, "medium": 40, "high": 20, "critical": 5}
CATEGORY_WEIGHTS = {"product": 25, "service": 22, "delivery": 18, "billing": 15,
                    "communication": 12, "other": 8}
CHANNEL_WEIGHTS = {"email": 35, "phone": 25, "web": 22, "meeting": 6, "survey": 7, "other": 5}
RESOLUTION_WEIGHTS = {"fixed": 40, "explanation": 20, "refund": 10, "replacement": 8,
                      "goodwill": 10, "no_action": 7, "other": 5}
ROOT_CAUSES = ["需求理解偏差 Requirement misunderstood", "Release regression", "发票系统错误 Invoicing bug",
               "Supplier delay", "人员不足 Understaffed team", "Mailing list error",
               "配置错误 Misconfiguration", "Unclear contract terms", "Network outage",
               "测试覆盖不足 Insufficient testing", "Data migration error", "沟通不及时 Late communication",
               "Third-party API change", "Capacity planning", "培训不足 Training gap",
               "Wrong shipment", "Price list outdated", "Hardware failure", "权限设置 Permission settings",
               "Documentation gap", "Translation error", "Time zone mix-up", "Duplicate charge",
               "Customs hold", "Security patch side effect"]
#: A few causes behind most complaints (Zipf-like: the first about 18 %).
ROOT_CAUSE_WEIGHTS = {cause: 1 / rank ** 0.9 for rank, cause in enumerate(ROOT_CAUSES, start=1)}
TITLES = {
    "product": ["导出功能报错 Export fails", "Dashboard loads slowly", "报表数据不一致", "Login fails after update",
                "移动端闪退", "Search returns wrong results"],
    "service": ["客服响应太慢", "Support ticket ignored", "Engineer missed the appointment", "热线无人接听"],
    "delivery": ["Deliverable two weeks late", "交付延期", "Milestone slipped without notice",
                 "货物损坏 Damaged goods"],
    "billing": ["发票重复扣款 Invoice charged twice", "Wrong VAT rate", "合同价格不符", "Refund not received"],
    "communication": ["Weekly report not received", "项目变更未通知", "No reply to escalation email", "会议纪要缺失"],
    "other": ["Badge access not working", "停车位问题", "Invoice address wrong", "Training room unavailable"],
}
STATUS_SHARE = {"new": 15, "acknowledged": 20, "in_progress": 40, "escalated": 10, "awaiting_client": 15}


class Rand(random.Random):
    def pick(self, weights: dict) -> Any:
        return self.choices(list(weights), weights=list(weights.values()))[0]

    def uid(self) -> str:
        return str(uuid.UUID(int=self.getrandbits(128), version=4))

    def person(self) -> str:
        if self.random() < 0.75:
            return self.choice(SURNAMES) + self.choice(GIVEN)
        return f"{self.choice(EN_FIRST)} {self.choice(EN_LAST)}"

    def lognormal_factor(self, median: float, sigma: float) -> float:
        return median * math.exp(self.gauss(0, sigma))


def day_weights() -> list[float]:
    """Day ``d`` days ago: volume twice as high now as two years ago, weekends at 40 %."""
    today = date.today()
    return [(1 + (DAYS - d) / DAYS) * (0.4 if (today - timedelta(days=d)).weekday() >= 5 else 1.0)
            for d in range(DAYS)]


HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 14, 10, 14, 16, 16, 14, 10, 6, 4, 3, 2, 1, 1]


def instants(rng: Rand, count: int, now: datetime, days: int = DAYS) -> list[datetime]:
    """``count`` moments of the last ``days`` days, busier lately and in office hours; sorted."""
    weights = day_weights()[:days]
    chosen_days = rng.choices(range(days), weights=weights, k=count)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    moments = [min(now - timedelta(minutes=5), midnight - timedelta(days=d)
                   + timedelta(hours=h, seconds=rng.randrange(3600)))
               for d, h in zip(chosen_days, hours)]
    return sorted(moments)


@dataclass
class Client:
    id: str
    name: str
    kind: str
    category: str
    tier: str
    amount: Decimal | None
    language: str
    status: str
    created_at: datetime
    owner: str
    tags: list[str]
    contacts: list[dict[str, str]]
    events: list = field(default_factory=list)  # registry SatisfactionEvents


def make_clients(rng: Rand, now: datetime) -> list[Client]:
    from services.registry.domain.money import Money
    from services.registry.domain.value import tier
    created = instants(rng, CLIENTS, now - timedelta(days=1), days=DAYS)
    clients = []
    for number, created_at in enumerate(created):
        kind, category = rng.pick(KIND_WEIGHTS)
        if category in ("enterprise", "government") or (kind == "potential" and rng.random() < 0.5):
            name = (f"{rng.choice(CITIES)}{rng.choice(CORES)}{rng.choice(CN_SUFFIX)}" if rng.random() < 0.7
                    else f"{rng.choice(EN_CORES)} {rng.choice(EN_SUFFIX)}")
        elif category == "department":
            name = f"{rng.choice(['财务部', '采购部', '市场部', 'IT 部', '法务部'])} {rng.choice(CITIES)}"
        else:
            name = rng.person()
        name = f"{name} #{number:05d}"  # several clients share a company name: keep them apart
        amount = None
        if rng.random() > 0.1:
            amount = Decimal(round(rng.lognormal_factor(120_000, 1.3), 2)).quantize(Decimal("0.01"))
        contacts = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            person = rng.person()
            contacts.append({"name": person, "email": f"contact{rng.randrange(10**6)}@example.cn",
                             "phone": f"+86 1{rng.randrange(10**9, 10**10)}",
                             "role": rng.choice(ROLES_CN)})
        clients.append(Client(
            id=rng.uid(), name=name, kind=kind, category=category,
            tier=tier(Money(amount, "CNY") if amount is not None else None), amount=amount,
            language="zh-CN" if rng.random() < 0.75 else "en",
            status="archived" if rng.random() < 0.03 else "active", created_at=created_at,
            owner=rng.choice(OWNERS), tags=rng.sample(TAGS, rng.choice((0, 1, 1, 2, 3))),
            contacts=contacts))
    return clients


def client_weights(rng: Rand, clients: list[Client], long_client: int, long_share: float) -> list[float]:
    """A few clients complain and answer much more than most (log-normal); ``long_client`` gets
    ``long_share`` of all."""
    weights = [rng.lognormal_factor(1, 1.0) if c.status == "active" else 0.2 for c in clients]
    weights[long_client] = 0
    weights[long_client] = long_share * sum(weights) / (1 - long_share)
    return weights


@dataclass
class Timeline:
    """The timeline rows of every complaint (``at`` first, so they sort by time) and the
    registry's view of the same history (complaint events on the client)."""

    rows: list[tuple] = field(default_factory=list)

    def add(self, complaint: dict, at: datetime, by: str, action: str, from_status: str | None,
            to_status: str, note: str | None = None, details: dict | None = None) -> None:
        self.rows.append((at, complaint["id"], by, action, from_status, to_status, note,
                          json.dumps(details or {}, ensure_ascii=False)))
        complaint["version"] += 1
        complaint["updated_at"] = max(complaint["updated_at"], at)


def _open_share(age: timedelta) -> float:
    """How likely a complaint of this age is still open: most of today's, few of last month's."""
    for days, share in ((1, .9), (3, .6), (7, .35), (14, .2), (30, .08), (90, .02)):
        if age < timedelta(days=days):
            return share
    return .003


def make_complaints(rng: Rand, clients: list[Client], now: datetime, long_client: int):
    """Complaint rows, their timelines, and the registry's events of each (on the clients)."""
    from services.complaints.domain.rules import DEFAULT_RULES
    policy = DEFAULT_RULES.sla
    weights = client_weights(rng, clients, long_client, LONG_LEDGER_COMPLAINTS / COMPLAINTS)
    owners = rng.choices(range(len(clients)), weights=weights, k=COMPLAINTS)
    complaints, timeline, resolved = [], Timeline(), []
    for number, (opened, index) in enumerate(zip(instants(rng, COMPLAINTS, now), owners), start=1):
        client = clients[index]
        severity, category = rng.pick(SEVERITY_WEIGHTS), rng.pick(CATEGORY_WEIGHTS)
        targets = policy.targets_for(severity, client.tier)
        age = now - opened
        fate = rng.pick(STATUS_SHARE) if rng.random() < _open_share(age) else "done"
        if age < timedelta(hours=1):
            fate = "new"
        by, title, ref = rng.choice(ASSIGNEES), rng.choice(TITLES[category]), f"CMP-{number:06d}"
        row = dict(id=rng.uid(), ref=ref, client_id=client.id, client_tier=client.tier,
                   channel=rng.pick(CHANNEL_WEIGHTS), category=category, severity=severity,
                   title=title,
                   description=f"{title}. 客户反馈：问题自 {opened:%Y-%m-%d} 起出现，影响日常工作。"
                               f" The client reports it affects daily work; reference {ref}.",
                   remedy_sought=rng.choice([None, "A refund", "尽快修复", "A revised schedule"]),
                   assignee=rng.choice(ASSIGNEES) if fate != "new" or rng.random() < 0.3 else None,
                   status=fate, opened_at=opened, respond_by=opened + targets.respond,
                   resolve_by=opened + targets.resolve, acknowledged_at=None, resolved_at=None,
                   closed_at=None, resolution_code=None, root_cause=None, resolution_summary=None,
                   client_accepted=None, waiting_since=None, waiting_s=0, pause_extension_s=0,
                   reopen_count=0, time_to_acknowledge_s=None, time_to_resolve_s=None,
                   client_erased=False, created_by=by, version=0, updated_at=opened)
        timeline.add(row, opened, by, "open", None, "new")
        client.events.append(_complaint_event(rng, "complaint.opened", opened, row))
        at = _handle(rng, row, timeline, fate, targets, now, by)
        if fate == "done":
            _resolve(rng, row, client, timeline, at, targets, now, by)
            resolved.append((row["id"], client, row["resolved_at"]))
        elif rng.random() < 0.2:
            at = min(at + timedelta(minutes=rng.randrange(5, 120)), now)
            timeline.add(row, at, row["assignee"] or by, "note", row["status"], row["status"],
                         "已电话联系客户 Called the client.")
        row["response_breach_published"] = (row["acknowledged_at"] or now) > row["respond_by"]
        row["resolution_breach_published"] = ((row["resolved_at"] or now) > row["resolve_by"]
                                              and row["status"] != "awaiting_client")
        complaints.append(row)
    return complaints, timeline.rows, resolved


def _complaint_event(rng: Rand, kind: str, at: datetime, row: dict, **more):
    from services.registry.domain.events import SatisfactionEvent
    return SatisfactionEvent(rng.uid(), kind, at, severity=row["severity"], ref=row["ref"], **more)


def _handle(rng: Rand, row: dict, timeline: Timeline, fate: str, targets, now: datetime,
            by: str) -> datetime:
    """Acknowledge, assign, start, escalate or wait as far as ``fate`` goes; the last time."""
    opened, age, handler = row["opened_at"], now - row["opened_at"], row["assignee"] or by
    at = opened
    if fate == "new":
        return at
    at = opened + min(targets.respond * rng.lognormal_factor(0.35, 0.75), age * 0.3)
    row.update(acknowledged_at=at, time_to_acknowledge_s=int((at - opened).total_seconds()))
    timeline.add(row, at, handler, "acknowledge", "new", "acknowledged")
    if row["assignee"]:
        at += timedelta(minutes=rng.randrange(1, 30))
        timeline.add(row, at, by, "assign", "acknowledged", "acknowledged",
                     f"Assigned to {row['assignee']}.", {"assignee": row["assignee"]})
    if fate == "acknowledged":
        return at
    at += timedelta(minutes=rng.randrange(5, 240))
    timeline.add(row, at, handler, "start", "acknowledged", "in_progress")
    if fate == "escalated":
        at = min(at + timedelta(hours=rng.randrange(1, 24)), now)
        reason = "客户要求升级 Client asked for a manager"
        timeline.add(row, at, handler, "escalate", "in_progress", "escalated", reason,
                     {"reason": reason})
    elif fate == "awaiting_client":
        at = min(at + timedelta(hours=rng.randrange(1, 24)), now - timedelta(minutes=1))
        reason = "Asked the client for logs"
        row["waiting_since"] = at
        timeline.add(row, at, handler, "wait", "in_progress", "awaiting_client", reason,
                     {"reason": reason})
    return at


def _resolve(rng: Rand, row: dict, client: Client, timeline: Timeline, at: datetime, targets,
             now: datetime, by: str) -> None:
    """Resolve (3 %: resolve, reopen, resolve again), then close: by the client's acceptance
    within days, or automatically two weeks later, when that moment has come."""
    handler = row["assignee"] or by
    resolved_at = row["opened_at"] + targets.resolve * rng.lognormal_factor(0.4, 0.6)
    if resolved_at >= now - timedelta(minutes=1):  # not yet: resolved a while ago
        resolved_at = at + (now - at) * rng.random()
    resolved_at = max(resolved_at, min(at + timedelta(minutes=10), now - timedelta(minutes=1)))
    code, cause = rng.pick(RESOLUTION_WEIGHTS), rng.pick(ROOT_CAUSE_WEIGHTS)
    summary = f"已处理 Handled: {cause}."
    details = {"resolution_code": code, "root_cause": cause, "summary": summary}
    if rng.random() < 0.03 and resolved_at + timedelta(days=3) < now:
        timeline.add(row, resolved_at, handler, "resolve", "in_progress", "resolved", summary,
                     details)
        client.events.append(_complaint_event(rng, "complaint.resolved", resolved_at, row,
                                              within_sla=resolved_at <= row["resolve_by"]))
        reopened = resolved_at + timedelta(days=1)
        timeline.add(row, reopened, by, "reopen", "resolved", "in_progress", "Client says it is back",
                     {"reason": "Client says it is back"})
        client.events.append(_complaint_event(rng, "complaint.reopened", reopened, row))
        resolved_at = min(now - timedelta(minutes=5), reopened + timedelta(days=rng.randrange(1, 5)))
        row["reopen_count"] = 1
    timeline.add(row, resolved_at, handler, "resolve", "in_progress", "resolved", summary, details)
    client.events.append(_complaint_event(rng, "complaint.resolved", resolved_at, row,
                                          within_sla=resolved_at <= row["resolve_by"]))
    row.update(status="resolved", resolved_at=resolved_at, resolution_code=code, root_cause=cause,
               resolution_summary=summary,
               time_to_resolve_s=int((resolved_at - row["opened_at"]).total_seconds()))
    accepted = rng.random() < 0.5
    closed_at = resolved_at + (timedelta(days=rng.randrange(1, 4)) if accepted
                               else timedelta(days=14))
    if closed_at < now:
        row.update(status="closed", closed_at=closed_at, client_accepted=True if accepted else None)
        timeline.add(row, closed_at, by if accepted else "system", "close", "resolved", "closed",
                     None, {"client_accepted": True} if accepted else {"automatic": True})


PULSE = {
    "languages": ["zh-CN", "en"],
    "questions": [
        {"key": "recommend", "type": "nps", "required": True,
         "text": {"zh-CN": "您有多大可能向同事推荐我们？", "en": "How likely are you to recommend us?"}},
        {"key": "satisfied", "type": "csat", "required": True,
         "text": {"zh-CN": "本季度您对我们满意吗？", "en": "How satisfied were you this quarter?"}},
        {"key": "comment", "type": "text", "text": {"zh-CN": "还有什么建议？", "en": "Anything else?"}},
    ],
}
COMMENTS = ["响应很快，谢谢！", "Delivery was late again.", "发票流程太复杂", "Great support from the team.",
            "希望能有更多培训", "Please call before visiting.", "价格偏高", "The new dashboard is much better.",
            "<script>alert('x')</script> 测试", "沟通顺畅"]


def _answer(rng: Rand, question, mood: float) -> Any:
    """An answer to ``question`` from a client whose mood is 0 (unhappy) … 1 (happy)."""
    low, high = question.answer_range or (0, 0)
    kind = question.type.value
    if question.answer_range is not None:
        value = low + (high - low) * min(1.0, max(0.0, rng.gauss(mood, 0.2)))
        return int(round(value))
    if kind == "single_choice":
        return rng.choice(question.options).key
    if kind == "multi_choice":
        return [option.key for option in rng.sample(question.options, rng.randrange(1, 3))]
    if kind == "text":
        return rng.choice(COMMENTS) if rng.random() < 0.3 else None
    return None


def make_surveys(rng: Rand, clients: list[Client], resolved: list, now: datetime,
                 long_client: int):
    """Surveys, invitations (with one link each) and responses; the responses' registry events
    go on the clients."""
    from services.registry.domain.events import SURVEY_RESPONSE_SUBMITTED, SatisfactionEvent
    from services.survey.demo import FOLLOW_UP, SATISFACTION
    from services.survey.domain.definition import validate_survey_definition
    from services.survey.domain.scoring import SCORING_VERSION, first_answers, score_response
    start = now - timedelta(days=DAYS + 5)
    surveys: list[dict] = []

    def survey(fields, status, created, published=None, closed=None):
        definition = validate_survey_definition(fields)
        surveys.append(dict(id=rng.uid(), status=status, definition=definition, created=created,
                            published=published, closed=closed,
                            after=definition.send_after_complaint_resolved))
        return surveys[-1]

    main = survey(SATISFACTION, "active", start, start)
    follow = survey(FOLLOW_UP, "active", start, start)
    pulses = []
    for quarter in range(8, 0, -1):
        begins = now - timedelta(days=91 * quarter)
        year, q = begins.year, (begins.month - 1) // 3 + 1
        pulses.append(survey({**PULSE, "title": {"zh-CN": f"{year}年第{q}季度客户脉搏调查",
                                                 "en": f"Client pulse {year} Q{q}"}},
                             "closed", begins, begins, begins + timedelta(days=80)))
    for title in ("2027 年度满意度调查（草稿）", "Onboarding feedback (draft)"):
        survey({**PULSE, "title": {"zh-CN": title, "en": title}}, "draft", now - timedelta(days=3))
    active = [c for c in clients if c.status == "active"]
    weights = client_weights(rng, clients, long_client, LONG_LEDGER_RESPONSES / RESPONSES)
    invitations, responses = [], []
    mood = {c.id: rng.betavariate(5, 2) for c in clients}

    def invite(s, client, created, complaint_id=None, answered=None):
        invitation = dict(id=rng.uid(), survey_id=s["id"], client_id=client.id,
                          language=client.language, created_at=created,
                          expires_at=created + timedelta(days=30), complaint_id=complaint_id,
                          revoked_at=None, answered_at=answered)
        if answered is None and rng.random() < 0.05:
            invitation["revoked_at"] = created + timedelta(days=1)
        invitations.append(invitation)
        if answered is not None:
            definition = s["definition"]
            answers = {}
            for question in definition.questions:
                value = _answer(rng, question, mood[client.id])
                if value is not None:
                    answers[question.key] = value
            score = score_response(definition, answers)
            responses.append(dict(id=rng.uid(), survey_id=s["id"], invitation_id=invitation["id"],
                                  client_id=client.id, language=client.language,
                                  answers=json.dumps(answers, ensure_ascii=False), score=score,
                                  scoring_version=SCORING_VERSION, submitted_at=answered,
                                  **first_answers(definition, answers).as_dict()))
            client.events.append(SatisfactionEvent(rng.uid(), SURVEY_RESPONSE_SUBMITTED, answered,
                                                   score=score))

    # After a resolved complaint: most are invited, about 70 % of those answer within days.
    for complaint_id, client, resolved_at in resolved:
        if client.status != "active" or rng.random() > 0.75:
            continue
        created = resolved_at + timedelta(minutes=5)
        answered = created + timedelta(hours=rng.lognormal_factor(20, 1))
        answered = answered if answered < now and rng.random() < 0.7 else None
        invite(follow, client, created, complaint_id, answered)
    for s in pulses:  # 3,000 invited a quarter, 1,875 answered
        span = (s["closed"] - s["published"]).days
        invited = rng.choices(range(len(clients)), weights=weights, k=3_000)
        for number, client_index in enumerate(invited):
            created = s["published"] + timedelta(days=rng.randrange(10), seconds=rng.randrange(86400))
            answered = created + timedelta(hours=rng.randrange(1, 24 * (span - 10)))
            invite(s, clients[client_index], created, answered=answered if number < 1_875 else None)
    remaining = RESPONSES - len(responses)
    answered_times = instants(rng, remaining, now)
    chosen = rng.choices(range(len(clients)), weights=weights, k=remaining)
    for answered, client_index in zip(answered_times, chosen):
        client = clients[client_index]
        client = client if client.status == "active" else rng.choice(active)
        created = max(start, answered - timedelta(hours=rng.lognormal_factor(30, 1)))
        invite(main, client, created, answered=answered)
    for created in instants(rng, remaining * 2 // 3, now):  # not (yet) answered
        invite(main, rng.choice(active), created)
    return surveys, invitations, responses


def registry_rows(clients: list[Client], now: datetime):
    """Fold each client's events with the registry's domain code: ledgers, records, rows."""
    from services.registry.domain.money import Money
    from services.registry.domain.rounding import round_half_up
    from services.registry.domain.satisfaction import DEFAULT_SATISFACTION_RULES, fold_ledger
    from services.registry.domain.value import DEFAULT_VALUE_RULES, compute_value_record
    from services.registry.rules import rules_fingerprint
    fingerprint = rules_fingerprint(DEFAULT_SATISFACTION_RULES, DEFAULT_VALUE_RULES)
    client_rows, tag_rows, event_rows, ledger_rows = [], [], [], []
    for client in clients:
        entries = fold_ledger(client.events)
        satisfaction = entries[-1].value if entries else None
        annual = Money(client.amount, "CNY") if client.amount is not None else None
        record = compute_value_record(annual, satisfaction,
                                      [e for e in client.events if e.is_complaint], now)
        opened_recent = sorted(e.occurred_at for e in client.events
                               if e.event_type == "complaint.opened"
                               and e.occurred_at >= now - timedelta(days=90))
        contacts = [str(c[k]) for c in client.contacts for k in ("name", "email", "phone", "role")]
        search = "\n".join([client.name, *contacts, *client.tags]).casefold()
        power = interest = None
        if int(client.id[2], 16) < 11:  # 70 % are placed on the grid
            power, interest = int(client.id[0], 16) % 5 + 1, int(client.id[1], 16) % 5 + 1
        client_rows.append((
            client.id, client.name, client.kind, client.category,
            json.dumps(client.contacts, ensure_ascii=False), json.dumps(client.tags, ensure_ascii=False),
            client.owner, client.language, power, interest, None, None, client.amount,
            "CNY" if client.amount is not None else None, record.tier,
            None if satisfaction is None else round_half_up(satisfaction, 2),
            record.health_score, record.health_band, record.open_complaints.low,
            record.open_complaints.medium, record.open_complaints.high,
            record.open_complaints.critical, record.complaints_90d,
            record.value_at_risk.quantize(Decimal("0.01")),
            opened_recent[0] + timedelta(days=90) if opened_recent else None, now, fingerprint,
            client.status, search, 1, client.created_at, now))
        tag_rows += [(client.id, tag) for tag in client.tags]
        for event in client.events:
            event_rows.append((client.id, event.event_id, event.event_type, event.occurred_at,
                               None if event.score is None else str(event.score), event.severity,
                               event.within_sla, event.ref, event.occurred_at + timedelta(seconds=2)))
        for position, entry in enumerate(entries):
            ledger_rows.append((client.id, position, entry.event_id, entry.event_type, entry.occurred_at,
                                None if entry.delta is None else round_half_up(entry.delta, 2),
                                round_half_up(entry.value, 2), entry.reason))
    return client_rows, tag_rows, event_rows, ledger_rows


def care_rows(rng: Rand, clients: list[Client], now: datetime):
    plans, interactions = [], []
    today = now.date()
    for client in clients:
        if client.status != "active" or rng.random() > 0.3:
            continue
        every = rng.choice((7, 14, 30, 90))
        starts = (client.created_at + timedelta(days=7)).date()
        last = None
        for _ in range(rng.randrange(0, 12)):
            at = now - timedelta(days=rng.randrange(0, 365), minutes=rng.randrange(600))
            last = max(last or at, at)
            channel = rng.choice(("meeting", "email", "phone", "im", "visit"))
            interactions.append((rng.uid(), client.id, channel,
                                 "季度回顾 Quarterly review: 讨论了交付计划和续约。", at, client.owner,
                                 at, client.owner))
        due = max(starts, ((last.date() if last else starts) + timedelta(days=every)))
        plans.append((client.id, "保持满意度 Keep the client satisfied", "meeting", every, client.owner,
                      starts, min(due, today + timedelta(days=every)), 1, now, now, client.owner))
    return plans, interactions


def copy(cursor, table: str, columns: str, rows: Iterable[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as stream:
        for row in rows:
            stream.write_row(row)


def load_large(urls: dict[str, str], seed: int = 7) -> dict[str, str]:
    """Generate and bulk-load the large data set; returns the ids and words the pages use."""
    rng = Rand(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clients = make_clients(rng, now)
    long_client = rng.randrange(CLIENTS)
    clients[long_client].status = "active"
    complaints, timeline, resolved = make_complaints(rng, clients, now, long_client)
    surveys, invitations, responses = make_surveys(rng, clients, resolved, now, long_client)
    client_rows, tag_rows, event_rows, ledger_rows = registry_rows(clients, now)
    plans, interactions = care_rows(rng, clients, now)

    with psycopg.connect(urls["registry"]) as db, db.cursor() as cursor:
        copy(cursor, "client", "id, name, kind, category, contacts, tags, owner, preferred_language, "
             "power, interest, engagement_current, engagement_desired, annual_amount, annual_currency, "
             "tier, satisfaction, health_score, health_band, open_low, open_medium, open_high, "
             "open_critical, complaints_90d, value_at_risk, window_moves_at, records_at, records_rules, "
             "status, search_text, version, created_at, updated_at", client_rows)
        copy(cursor, "client_tag", "client_id, tag", tag_rows)
        copy(cursor, "client_event", "client_id, event_id, event_type, occurred_at, score, severity, "
             "within_sla, ref, received_at", event_rows)
        copy(cursor, "satisfaction_entry", "client_id, position, event_id, event_type, occurred_at, "
             "delta, value, reason", ledger_rows)
        copy(cursor, "communication_plan", "client_id, goal, channel, frequency_days, owner, starts_on, "
             "next_due_on, version, created_at, updated_at, updated_by", plans)
        copy(cursor, "interaction", "id, client_id, channel, summary, occurred_at, staff, created_at, "
             "created_by", interactions)

    with psycopg.connect(urls["complaints"]) as db, db.cursor() as cursor:
        copy(cursor, "known_client", "id, name, tier, status, registered, profile_at, tier_at, status_at, "
             "last_event_at", ((c.id, c.name, c.tier, c.status, True, c.created_at, c.created_at,
                                c.created_at, c.created_at) for c in clients))
        names = list(complaints[0])
        copy(cursor, "complaint", ", ".join(names), (tuple(row[n] for n in names) for row in complaints))
        timeline.sort(key=lambda row: row[0])
        copy(cursor, "complaint_timeline", 'id, at, complaint_id, "by", action, from_status, to_status, '
             "note, details", ((number, *row) for number, row in enumerate(timeline, start=1)))
        cursor.execute("SELECT setval('complaint_timeline_id_seq', %s)", (len(timeline),))
        cursor.execute("UPDATE complaint_ref_counter SET last_number = %s", (len(complaints),))

    with psycopg.connect(urls["survey"]) as db, db.cursor() as cursor:
        copy(cursor, "survey_client", "id, known, name, kind, category, tier, preferred_language, "
             "contacts, status, updated_at",
             ((c.id, True, c.name, c.kind, c.category, c.tier, c.language,
               json.dumps(c.contacts, ensure_ascii=False), c.status, c.created_at) for c in clients))
        copy(cursor, "survey", "id, status, definition, send_after_complaint_resolved, version, created_by, "
             "created_at, updated_at, published_at, closed_at",
             ((s["id"], s["status"], json.dumps(s["definition"].to_dict(), ensure_ascii=False), s["after"], 2,
               "陈静", s["created"], s["closed"] or s["published"] or s["created"], s["published"],
               s["closed"]) for s in surveys))
        copy(cursor, "invitation", "id, survey_id, client_id, language, created_at, expires_at, revoked_at, "
             "answered_at, created_by, complaint_id, link_base, delivery, delivery_status, "
             "delivery_attempts, version",
             ((i["id"], i["survey_id"], i["client_id"], i["language"], i["created_at"], i["expires_at"],
               i["revoked_at"], i["answered_at"], "system" if i["complaint_id"] else "陈静", i["complaint_id"],
               "http://127.0.0.1:8000/survey", "none", "not_requested", 0, 1) for i in invitations))
        copy(cursor, "invitation_link", "invitation_id, token_hash, issued_for, created_at",
             ((i["id"], hashlib.sha256(i["id"].encode()).hexdigest(), "answer", i["created_at"])
              for i in invitations))
        names = list(responses[0])
        copy(cursor, "survey_response", ", ".join(names), (tuple(r[n] for n in names) for r in responses))

    for url in urls.values():
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("VACUUM ANALYZE")

    long = clients[long_client]
    complaint = max(((row["id"], row["version"]) for row in complaints if row["client_id"] == long.id),
                    key=lambda pair: pair[1])[0]
    today = now.date()
    counts = {"clients": len(clients), "complaints": len(complaints), "timeline entries": len(timeline),
              "survey responses": len(responses), "invitations": len(invitations),
              "registry events": len(event_rows), "ledger entries": len(ledger_rows),
              "longest ledger": sum(1 for row in ledger_rows if row[0] == long.id),
              "open complaints": sum(1 for row in complaints if row["status"] not in ("resolved", "closed"))}
    print("  " + ", ".join(f"{name}: {count:,}" for name, count in counts.items()))
    busiest = max(surveys, key=lambda s: sum(1 for r in responses if r["survey_id"] == s["id"]))
    return {"complaint": complaint, "client": long.id, "ref": "CMP-031415",
            "survey": busiest["id"], "client_words": CORES[3], "owner": STAFF_NAME,
            "tag": "key-account", "today": today.isoformat(),
            "two_years_ago": (today - timedelta(days=729)).isoformat()}


@contextlib.contextmanager
def scratch_databases() -> Iterator[dict[str, str]]:
    prefix = f"clientloop_bench_{uuid.uuid4().hex[:8]}"
    names = {service: f"{prefix}_{service}" for service in SERVICES}
    with psycopg.connect(ADMIN_URL, autocommit=True) as db:
        for name in names.values():
            db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {service: ADMIN_URL.rsplit("/", 1)[0] + f"/{name}" for service, name in names.items()}
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as db:
            for name in names.values():
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_large(requests_per_page: int, work: Path, profile: Callable | None) -> tuple[list[Figures], float]:
    from shared.auth import issue
    from shared.config import DATABASE_URL_VARIABLES, Settings
    from shared.migrations import upgrade
    with scratch_databases() as urls:
        started = time.monotonic()
        for service, url in urls.items():
            upgrade(service, url)
        ids = load_large(urls)
        built = time.monotonic() - started
        print(f"  built in {built:.0f} s (migrations, generation, COPY, VACUUM ANALYZE)")
        env = _env(CLIENTLOOP_SECRET_KEY=SECRET, CLIENTLOOP_DATA_DIR=str(work / "large"),
                   **{DATABASE_URL_VARIABLES[service]: url for service, url in urls.items()})
        token, _principal = issue(SECRET, name=STAFF_NAME, role="admin", days=1,
                                  now=datetime.now(timezone.utc))
        with gunicorn_suite(env, work / "large-gunicorn.log") as base:
            http = signed_in(base, token)
            figures = measure(http, base, console_pages(ids, large=True), requests_per_page)
        if profile is not None:
            missed = profile(figures, GOALS_MS["large"])
            if missed:
                profile_pages(Settings.from_env(env), token, missed)
    return figures, built


# == profiling ====================================================================================

def profile_pages(settings, token: str, pages: list[Page], runs: int = 10) -> None:
    """Each page ``runs`` times in-process (Flask, same databases) under pyinstrument, with the
    SQL statements it ran ranked by time."""
    from pyinstrument import Profiler
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from werkzeug.test import Client

    from shared.embedded import wsgi
    statements: dict[str, list[float]] = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("started", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        elapsed = (time.perf_counter() - conn.info["started"].pop()) * 1000
        statements.setdefault(" ".join(statement.split()), []).append(elapsed)

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    client = Client(wsgi(settings))
    client.post("/registry/console/sign-in", data={"token": token})
    for page in pages:
        client.get(page.path, headers={"Accept-Language": LANGUAGE})  # warm
        statements.clear()
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        with profiler:
            for _ in range(runs):
                answer = client.get(page.path, headers={"Accept-Language": LANGUAGE})
                assert answer.status_code == 200, answer.status_code
        total = (time.perf_counter() - started) * 1000 / runs
        sql = sum(sum(times) for times in statements.values()) / runs
        print(f"\n#### profile: {page.name} ({page.path})\n\nin-process: {total:.1f} ms a request, "
              f"of which SQL {sql:.1f} ms in {sum(map(len, statements.values())) // runs} statements")
        for text, times in sorted(statements.items(), key=lambda item: -sum(item[1]))[:5]:
            print(f"  {sum(times) / runs:7.1f} ms  ×{len(times) // runs}  {text[:600]}")
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    event.remove(Engine, "before_cursor_execute", before)
    event.remove(Engine, "after_cursor_execute", after)


# == main =========================================================================================

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("demo", "large"), help="one data set only")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page (default 50)")
    parser.add_argument("--language", choices=("zh-CN", "en"), default="zh-CN",
                        help="the pages' language (Accept-Language; default zh-CN)")
    parser.add_argument("--profile", action="store_true",
                        help="profile the pages that miss their goal (needs pyinstrument)")
    parser.add_argument("--profile-page", action="append", default=[], metavar="TEXT",
                        help="also profile the pages whose name contains TEXT (repeatable)")
    args = parser.parse_args()
    global LANGUAGE
    LANGUAGE = args.language

    def chosen(figures: list[Figures], goal_ms: float) -> list[Page]:
        return [f.page for f in figures if f.page.name != BASELINE and (
            (args.profile and f.p95 >= goal_ms) or any(t in f.page.name for t in args.profile_page))]

    profile = chosen if args.profile or args.profile_page else None
    reports, failed = [], 0
    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder:
        work = Path(folder)
        for name, run in (("demo", run_demo), ("large", run_large)):
            if args.only not in (None, name):
                continue
            print(f"\n== {name} data set ==", flush=True)
            load_before = os.getloadavg()[0]
            figures, built = run(args.requests, work, profile)
            title = ("Demo data (`clientloop up --demo`, SQLite)" if name == "demo" else
                     "10,000 clients, 50,000 complaints, 100,000 responses (PostgreSQL)")
            reports.append(table(title, figures, GOALS_MS[name]) + (
                f"\n\n{os.cpu_count()} cores; 1-minute load average {load_before:.1f} before, "
                f"{os.getloadavg()[0]:.1f} after; pages in {LANGUAGE}."))
            failed += len(misses(figures, GOALS_MS[name]))
    print("\n" + "\n\n".join(reports))
    print(f"\n{failed} page(s) missed the goal" if failed else "\nevery page met its goal")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
